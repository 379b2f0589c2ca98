package auth

import (
	"os"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestMain makes bcrypt cheap: the tests check what is hashed and
// compared, not the work factor, and -race makes the default cost slow.
func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost
	dummyHash = newDummyHash()
	os.Exit(m.Run())
}
