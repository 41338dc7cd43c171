package secondary_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestVerifyWalksOneAtATime: a primary that asks for six verify walks at
// once gets one walk at a time; three more wait, and the two past the
// bound are answered with an error at once.
func TestVerifyWalksOneAtATime(t *testing.T) {
	env := newCraftedEnv(t, craftedEnvOptions{})
	for _, name := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(env.root, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env.nextHello(t)
	for id := range uint64(6) {
		env.sendMsg(t, &ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Verify{Verify: &ncsyncv1.VerifyQuery{FolderId: craftedFolder, Id: id + 1}}})
	}
	wait := func(want int) (n, failed, most int) {
		t.Helper()
		deadline := time.Now().Add(craftedWait)
		for {
			n, failed, most = env.primary.uploadCounts()
			if n >= want || time.Now().After(deadline) {
				return n, failed, most
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if n, failed, most := wait(3); n != 3 || failed != 2 || most != 1 {
		t.Errorf("while one walk is held: %d uploads, %d refused, %d walks at once; want 3, 2, 1", n, failed, most)
	}
	close(env.primary.release)
	if n, failed, most := wait(6); n != 6 || failed != 2 || most != 1 {
		t.Errorf("in the end: %d uploads, %d refused, %d walks at once; want 6, 2, 1", n, failed, most)
	}
}
