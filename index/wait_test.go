package index

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
)

// waitAsync starts db.Wait and returns a channel with its result.
func waitAsync(ctx context.Context, db *DB, folder string, after uint64) chan error {
	done := make(chan error, 1)
	go func() { done <- db.Wait(ctx, folder, after) }()
	return done
}

func returned(done chan error) (error, bool) {
	select {
	case err := <-done:
		return err, true
	default:
		return nil, false
	}
}

func TestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openTest(t)
		journal(t, db, "f", dir("a"))

		if err := db.Wait(t.Context(), "f", 0); err != nil {
			t.Fatalf("wait below head = %v", err)
		}

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		onF := waitAsync(ctx, db, "f", 1)
		onG := waitAsync(ctx, db, "g", 0)
		synctest.Wait()
		if _, ok := returned(onF); ok {
			t.Fatal("wait returned before any commit")
		}

		// A commit that does not raise the head (position only) and one on
		// another folder leave the waiter blocked.
		if err := db.Update("f", func(tx *Tx) error { return tx.SetPosition(1) }); err != nil {
			t.Fatal(err)
		}
		journal(t, db, "h", dir("x"))
		synctest.Wait()
		if _, ok := returned(onF); ok {
			t.Fatal("wait returned without a new entry in its folder")
		}

		journal(t, db, "f", dir("b"))
		synctest.Wait()
		if err, ok := returned(onF); !ok || err != nil {
			t.Fatalf("after commit: returned %v, err %v", ok, err)
		}
		if _, ok := returned(onG); ok {
			t.Fatal("waiter on g woken by f")
		}

		cancel()
		synctest.Wait()
		if err, ok := returned(onG); !ok || !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: returned %v, err %v", ok, err)
		}
	})
}

func TestWaitStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openTest(t)
		done := waitAsync(t.Context(), db, "f", 0)
		synctest.Wait()
		err := db.Update("f", func(tx *Tx) error { return tx.Store(Entry{Path: "a", Seq: 3, Kind: KindDir}) })
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err, ok := returned(done); !ok || err != nil {
			t.Fatalf("after store: returned %v, err %v", ok, err)
		}
	})
}

func TestWaitClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openTest(t)
		done := waitAsync(t.Context(), db, "f", 0)
		synctest.Wait()
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err, ok := returned(done); !ok || err == nil {
			t.Fatalf("after close: returned %v, err %v", ok, err)
		}
	})
}
