package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAgentLimitsOutside(t *testing.T) {
	dev := map[string]string{"env": "dev", "team": "db"}
	tests := []struct {
		name   string
		limits AgentLimits
		app    string
		labels map[string]string
		want   string // "" when allowed, else part of the reason
	}{
		{"no limits", AgentLimits{}, "anything", nil, ""},
		{"glob matches", AgentLimits{Apps: []string{"db-*"}}, "db-main", nil, ""},
		{"second glob matches", AgentLimits{Apps: []string{"db-*", "web"}}, "web", nil, ""},
		{"glob does not match", AgentLimits{Apps: []string{"db-*"}}, "web", nil, "allows only apps named db-*"},
		{"glob is anchored", AgentLimits{Apps: []string{"db"}}, "db-main", nil, "allows only apps named db"},
		{"labels included", AgentLimits{Labels: map[string]string{"env": "dev"}}, "x", dev, ""},
		{"label missing", AgentLimits{Labels: map[string]string{"env": "dev"}}, "x", map[string]string{"team": "db"}, "allows only apps labelled env=dev"},
		{"label differs", AgentLimits{Labels: map[string]string{"env": "dev"}}, "x", map[string]string{"env": "prod"}, "allows only apps labelled env=dev"},
		{"both, name fails", AgentLimits{Apps: []string{"db-*"}, Labels: map[string]string{"env": "dev"}}, "web", dev, "named db-*"},
		{"both pass", AgentLimits{Apps: []string{"db-*"}, Labels: map[string]string{"env": "dev"}}, "db-1", dev, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.limits.Outside(tt.app, tt.labels)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("Outside = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAddAppJoinTokenLimits(t *testing.T) {
	s, ctx := newTestService(t)
	if _, _, err := s.AddAppJoinToken(ctx, time.Hour, AgentLimits{Apps: []string{"db-["}}); err == nil || !strings.Contains(err.Error(), `"db-[" is not a valid pattern`) {
		t.Fatalf("AddAppJoinToken(bad glob) = %v", err)
	}
	if _, _, err := s.AddAppJoinToken(ctx, time.Hour, AgentLimits{Labels: map[string]string{"env": ""}}); err == nil {
		t.Fatal("AddAppJoinToken(empty label value) succeeded")
	}
	limits := AgentLimits{Apps: []string{"db-*"}, Labels: map[string]string{"env": "dev"}}
	token, _, err := s.AddAppJoinToken(ctx, time.Hour, limits)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := s.ListJoinTokens(ctx)
	if err != nil || len(tokens) != 1 || tokens[0].Limits.String() != "apps=db-* labels=env=dev" {
		t.Fatalf("ListJoinTokens = %+v, %v; want the limits shown", tokens, err)
	}
	_, pub := newPub(t)
	_, limited, err := s.JoinAgent(ctx, token, "h1", pub)
	if err != nil {
		t.Fatal(err)
	}
	free, _, err := s.AddJoinToken(ctx, TokenTypeApp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, open, err := s.JoinAgent(ctx, free, "h2", pub)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAgent(ctx, limited.ID)
	if err != nil || got.HostName != "h1" || got.Limits.String() != limits.String() {
		t.Fatalf("GetAgent = %+v, %v; want the token's limits bound to the agent", got, err)
	}
	agents, err := s.ListAgents(ctx)
	if err != nil || len(agents) != 2 {
		t.Fatalf("ListAgents = %+v, %v", agents, err)
	}
	for _, a := range agents {
		if a.ID == open.ID && a.Limits.String() != "-" {
			t.Fatalf("agent of an unlimited token has limits %s", a.Limits)
		}
	}
	if err := s.RemoveAgent(ctx, limited.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAgent(ctx, limited.ID); !errors.Is(err, ErrNoSuchResource) {
		t.Fatalf("GetAgent after RemoveAgent = %v, want ErrNoSuchResource", err)
	}
}
