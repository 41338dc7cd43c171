package preserve

import (
	"testing"

	"github.com/ncsync/ncsync/internal/fsys/fsystest"
)

// TestMain runs the tests as on a kernel without openat2 when
// NCSYNC_NO_OPENAT2=1 (see fsystest.Main).
func TestMain(m *testing.M) { fsystest.Main(m) }
