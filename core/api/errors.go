package api

import (
	"regexp"
	"strings"
)

var grpcFraming = regexp.MustCompile(`rpc error: code = \w+ desc = `)

// ErrorLine is the one line a person sees for an error that may have come
// through a call to the cluster: gRPC's "rpc error: code = ... desc ="
// framing is dropped (the message already says what is wrong) and line
// breaks are folded.
func ErrorLine(err error) string {
	return strings.ReplaceAll(grpcFraming.ReplaceAllString(err.Error(), ""), "\n", " ")
}
