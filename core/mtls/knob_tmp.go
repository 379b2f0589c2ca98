package mtls

import (
	"os"

	"google.golang.org/grpc/credentials"
)

// ABCreds is a TEMPORARY A/B knob (down4): Coalescing when VNET_AB_COALESCE=1.
func ABCreds(c credentials.TransportCredentials) credentials.TransportCredentials { return abCreds(c) }

func abCreds(c credentials.TransportCredentials) credentials.TransportCredentials {
	if os.Getenv("VNET_AB_COALESCE") == "1" {
		return Coalescing(c)
	}
	return c
}
