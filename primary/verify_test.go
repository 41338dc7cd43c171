package primary

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ncsync/ncsync/verify"
)

// TestVerifyOneAtATime: while a verify runs, a second is refused with
// ErrVerifyRunning; once the first ends, a verify runs again.
func TestVerifyOneAtATime(t *testing.T) {
	p, _ := newTestPrimary(t, map[string]string{"a": "x"}, "nfs2")
	reported, hold := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		// nfs2 is not connected: the first report is that folder's error,
		// and the verify waits in it.
		_, err := p.Verify(context.Background(), verify.Request{}, func(verify.Report) error {
			close(reported)
			<-hold
			return nil
		})
		first <- err
	}()
	select {
	case <-reported:
	case <-time.After(20 * time.Second):
		t.Fatal("the first verify reported nothing")
	}
	_, err := p.Verify(context.Background(), verify.Request{}, func(verify.Report) error { return nil })
	if !errors.Is(err, ErrVerifyRunning) {
		t.Errorf("second verify: %v, want %v", err, ErrVerifyRunning)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Errorf("first verify: %v", err)
	}
	if _, err := p.Verify(context.Background(), verify.Request{}, func(verify.Report) error { return nil }); errors.Is(err, ErrVerifyRunning) {
		t.Errorf("verify after the first ended: %v", err)
	}
}
