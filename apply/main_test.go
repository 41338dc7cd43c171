package apply

import (
	"os"
	"testing"

	"github.com/ncsync/ncsync/internal/fsys/fsystest"
)

// TestMain runs the tests as on a kernel without openat2 when
// NCSYNC_NO_OPENAT2=1 (see fsystest.Main); with attackerEnv set, the
// process is the local attacker of TestSymlinkTempRace instead.
func TestMain(m *testing.M) {
	if os.Getenv(attackerEnv) != "" {
		os.Exit(attack())
	}
	fsystest.Main(m)
}
