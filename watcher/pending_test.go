package watcher

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

// TestPending: a path is pending from its first event until its batch is
// taken, whether it is still in its quiet window or already due and
// waiting in the outbox; paths below a queued directory are pending too.
func TestPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{}, nil)
		defer f.stop()
		ctx := context.Background()
		ask := []string{"a", "b", "d/x", "e", ""}
		if got := f.w.Pending(ctx, ask); len(got) != 0 {
			t.Fatalf("idle: Pending %q, want none", got)
		}

		f.event(fsnotify.Write, "a")
		f.event(fsnotify.Chmod, "b")
		synctest.Wait()
		if got := f.w.Pending(ctx, ask); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("in the quiet window: Pending %q, want [a b]", got)
		}

		// Due, in the outbox, not taken: still pending; d covers d/x.
		f.event(fsnotify.Create, "d")
		time.Sleep(DefaultQuiet + time.Millisecond)
		synctest.Wait()
		if got := f.w.Pending(ctx, ask); !slices.Equal(got, []string{"a", "b", "d/x"}) {
			t.Fatalf("due, not taken: Pending %q, want [a b d/x]", got)
		}

		b := <-f.out
		slices.Sort(b.Paths)
		if !slices.Equal(b.Paths, []string{"a", "b", "d"}) {
			t.Fatalf("batch %+v", b)
		}
		if got := f.w.Pending(ctx, ask); len(got) != 0 {
			t.Fatalf("after the batch was taken: Pending %q, want none", got)
		}

		// Lost events: the whole folder is to be rescanned, so everything
		// is pending, "" included.
		f.src.errors <- fsnotify.ErrEventOverflow
		synctest.Wait()
		if got := f.w.Pending(ctx, ask); !slices.Equal(got, ask) {
			t.Fatalf("after an overflow: Pending %q, want all of %q", got, ask)
		}
		<-f.out
	})
}

// TestPendingNotRunning: Pending does not block once Run has returned.
func TestPendingNotRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{}, nil)
		f.stop()
		if got := f.w.Pending(context.Background(), []string{"a"}); got != nil {
			t.Fatalf("Pending after Run returned: %q", got)
		}
	})
}
