package scanner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncsync/ncsync/internal/fsys"
)

func appendTo(t *testing.T, path, data string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Error(err)
	}
}

func TestFileModifiedWhileReadIsRetried(t *testing.T) {
	e := newEnv(t)
	first := randomData(3, 12000)
	e.write("growing.log", first)
	e.write("other", "o")
	e.s.afterRead = func(p string, attempt int) {
		if p == "growing.log" && attempt == 0 {
			appendTo(t, e.abs(p), "appended while the scanner was reading")
		}
	}
	r := e.scan()
	if r.Retried != 1 || r.Errors != 0 || r.Hashed != 2 {
		t.Errorf("result %+v, want one retry", r)
	}
	id, refs := chunksOf(t, []byte(first+"appended while the scanner was reading"))
	en := e.entry("growing.log")
	if en.FileID != id || len(en.Chunks) != len(refs) || en.Size != int64(len(first)+38) {
		t.Errorf("journaled size %d id %v, want the settled content (size %d id %v)", en.Size, en.FileID, len(first)+38, id)
	}
	if n := len(e.store.journalFrom(0)); n != 2 {
		t.Errorf("journaled %d entries, want 2 (no half version)", n)
	}
}

func TestFileThatNeverSettlesIsLeft(t *testing.T) {
	e := newEnv(t)
	e.write("busy", "start")
	e.write("calm", "c")
	var reads atomic.Int32
	e.s.afterRead = func(p string, attempt int) {
		if p == "busy" {
			reads.Add(1)
			appendTo(t, e.abs(p), "more")
		}
	}
	r := e.scan()
	if r.Errors != 1 || r.Retried != e.s.maxAttempts-1 || int(reads.Load()) != e.s.maxAttempts {
		t.Errorf("result %+v reads %d, want %d attempts and one error", r, reads.Load(), e.s.maxAttempts)
	}
	if !slices.Equal(r.Failed, []string{"busy"}) || !errors.Is(r.FailErr, fsys.ErrUnsettled) {
		t.Errorf("Failed %q (%v), want [busy] changed while being read", r.Failed, r.FailErr)
	}
	if _, ok := e.store.get("busy"); ok {
		t.Error("a file that never settled was journaled")
	}
	if _, ok := e.store.get("calm"); !ok {
		t.Error("the other file was not journaled")
	}
	if !e.logs.contains("level=WARN", "keeps changing", `busy`) {
		t.Errorf("no warning:\n%s", e.logs)
	}

	// Once it is quiet, the next scan picks it up.
	e.s.afterRead = nil
	if r := e.scan(); r.Changed != 1 || r.Errors != 0 || r.Failed != nil || r.FailErr != nil {
		t.Errorf("next scan %+v", r)
	}
	if e.entry("busy").Size != int64(len("start")+4*e.s.maxAttempts) {
		t.Error("wrong size after settling")
	}
}

func TestRacilyCleanFileIsReadAgain(t *testing.T) {
	e := newEnv(t)
	e.s.racy = time.Hour // every file is "just changed"
	e.write("f", randomData(5, 5000))
	e.mkdir("d")
	if r := e.scan(); !slices.Equal(r.Racy, []string{"f"}) {
		t.Errorf("first scan: Racy = %q, want [f]", r.Racy)
	}
	if st := e.entry("f").Stat; st.CtimeNs != 0 {
		t.Fatalf("racy fingerprint stored with ctime %d, want 0", st.CtimeNs)
	}
	n := e.store.journalLen()

	r := e.scan()
	if r.Hashed != 1 || r.Changed != 0 || len(e.store.journalFrom(n)) != 0 {
		t.Fatalf("second scan %+v: want a re-read and nothing journaled", r)
	}
	if !slices.Equal(r.Racy, []string{"f"}) { // still racy: still listed
		t.Errorf("second scan: Racy = %q, want [f]", r.Racy)
	}

	// Once the change is old enough, the real fingerprint is recorded and
	// the file is no longer read.
	e.s.racy = 0
	if r := e.scan(); r.Racy != nil {
		t.Errorf("settling scan: Racy = %q, want none", r.Racy)
	}
	if st := e.entry("f").Stat; st.CtimeNs != e.lstat("f").Ctim.Nano() {
		t.Fatalf("stat %+v not updated", st)
	}
	if r := e.scan(); r.Hashed != 0 {
		t.Errorf("fourth scan read again: %+v", r)
	}
}

func TestCancelStopsAndJoins(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Hashers = 3 })
	for i := range 50 {
		e.write("f"+string(rune('A'+i)), randomData(uint64(i), 2000))
	}
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reads atomic.Int32
	e.s.afterRead = func(string, int) {
		if reads.Add(1) == 5 {
			cancel()
		}
	}
	_, err := e.s.Scan(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan error %v, want context.Canceled", err)
	}
	if n := int(reads.Load()); n > 5+3 {
		t.Errorf("%d files read after cancel", n-5)
	}
	waitGoroutines(t, base)

	// A later scan completes the work.
	e.s.afterRead = nil
	e.scan()
	if n := len(e.store.live()); n != 50 {
		t.Errorf("%d entries after the next scan, want 50", n)
	}
}

func TestStoreErrorFailsScan(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.write("f"+string(rune('a'+i)), "x")
	}
	base := runtime.NumGoroutine()
	boom := errors.New("disk full")
	e.store.failWith = boom
	_, err := e.s.Scan(context.Background())
	if !errors.Is(err, boom) {
		t.Fatalf("Scan error %v, want %v", err, boom)
	}
	waitGoroutines(t, base)
	if len(e.store.live()) != 0 {
		t.Error("a failed transaction left entries")
	}
}

func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Past maxFailed failed paths, the whole folder is to be scanned again.
func TestFailedCollapsesToWholeFolder(t *testing.T) {
	e := newEnv(t)
	for i := range maxFailed + 1 {
		e.s.noteFailed(fmt.Sprintf("f%d", i), fsys.ErrUnsettled)
	}
	if !slices.Equal(e.s.failed, []string{""}) {
		t.Errorf("after %d failures Failed holds %d paths, want the whole folder", maxFailed+1, len(e.s.failed))
	}
	e.s.noteFailed("another", fsys.ErrUnsettled)
	if !slices.Equal(e.s.failed, []string{""}) {
		t.Errorf("a failure after the collapse gives %q", e.s.failed)
	}
}
