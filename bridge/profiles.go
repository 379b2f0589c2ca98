package main

import (
	"os"
	"time"

	"github.com/vnetproject/vnet/core/profile"
)

// ProfileInfo is one login, as the menu-bar app lists it.
type ProfileInfo struct {
	Cluster string    `json:"cluster"`
	Proxy   string    `json:"proxy"`
	User    string    `json:"user"`
	Expires time.Time `json:"expires,omitzero"`
	Expired bool      `json:"expired"`
}

// ProfileList is what vnet_profiles writes; Error says why it is empty.
type ProfileList struct {
	Profiles []ProfileInfo `json:"profiles"`
	Error    string        `json:"error,omitempty"`
}

// listProfiles describes the logins stored under dir.
func listProfiles(dir string, now time.Time) ProfileList {
	if _, err := os.Stat(dir); err != nil {
		return ProfileList{Profiles: []ProfileInfo{}, Error: "profile directory: " + err.Error()}
	}
	ps, err := profile.LoadAll(dir)
	if err != nil {
		return ProfileList{Profiles: []ProfileInfo{}, Error: err.Error()}
	}
	return ProfileList{Profiles: describeProfiles(ps, now)}
}

func describeProfiles(ps []*profile.Profile, now time.Time) []ProfileInfo {
	out := make([]ProfileInfo, 0, len(ps))
	for _, p := range ps {
		info := ProfileInfo{Cluster: p.ClusterName, Proxy: p.ProxyAddr, User: p.User}
		if exp, err := p.Expires(); err == nil {
			info.Expires, info.Expired = exp, !now.Before(exp)
		} else {
			info.Expired = true
		}
		out = append(out, info)
	}
	return out
}
