package tunnel

import (
	"os"
	"strconv"
)

// TEMPORARY A/B knobs (down4), removed before the branch is done.
var maxFrame = envKiB("VNET_AB_FRAME_KIB", 32<<10)

// EnvKiB is a temporary A/B knob: the env variable in KiB, or def bytes.
func EnvKiB(name string, def int) int { return envKiB(name, def) }

func envKiB(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n << 10
	}
	return def
}
