package secondary

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/ncsync/ncsync/transport"
)

// A batch that cannot be applied because of this node's disk (a full
// file system, an I/O error, in the folder or in the state_dir) is never
// dropped: the session stays up, the error shows in this node's status
// and, in an ack of the durable position that carries it, in the
// primary's, and the rest of the batch is applied again with backoff
// until it succeeds. Any other failure (the session broke, the primary
// sent something wrong) ends the session, which starts again from the
// durable position after the reconnect backoff.

// applyRetrying applies b, retrying a local failure with backoff from
// MinBackoff up to MaxBackoff for as long as the session lasts.
//
// pre, if not nil, is the batch's prepared source, for the first attempt.
func (s *Secondary) applyRetrying(ctx context.Context, c *transport.Client, b transport.Batch, ack func(transport.Ack) error, pre *source) (transport.Ack, error) {
	backoff := s.opts.MinBackoff
	for {
		a, err := s.applyBatch(ctx, c, b, nil, ack, pre)
		pre = nil
		if err == nil || ctx.Err() != nil || !localFailure(err) {
			return a, err
		}
		if err := s.applyFailed(ctx, b.Folder, err, ack); err != nil {
			return transport.Ack{}, err
		}
		s.log.Warn("cannot apply batch: retrying", "folder", b.Folder, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return transport.Ack{}, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
		// What was processed before the failure is recorded: go on after it.
		pos, processed, err := s.processedTo(b.Folder)
		if err != nil {
			return transport.Ack{}, err
		}
		i := 0
		for i < len(b.Entries) && b.Entries[i].Seq <= processed {
			i++
		}
		if b.Entries = b.Entries[i:]; len(b.Entries) == 0 {
			return transport.Ack{Folder: b.Folder, Seq: pos, Processed: processed}, nil
		}
	}
}

// localFailure reports whether err is this node's own I/O failing (a
// system call error: ENOSPC, EIO, EACCES, EROFS, ...), which a retry in
// the same session may get past.
func localFailure(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno)
}

// applyFailed makes a batch that could not be applied or staged visible:
// in this node's status, and, for a local failure, to the primary, in an
// ack of the durable position that carries the error (any other failure
// ends the session without acknowledging anything). It returns an error
// only when the ack cannot be sent (the session broke).
func (s *Secondary) applyFailed(ctx context.Context, folder string, err error, ack func(transport.Ack) error) error {
	if ctx.Err() != nil {
		return nil // the session is ending anyway: not the batch's fault
	}
	if f, ok := s.folders[folder]; ok {
		f.mu.Lock()
		f.lastErr = err.Error()
		f.mu.Unlock()
	}
	if !localFailure(err) {
		return nil
	}
	pos, perr := s.db.Position(folder)
	if perr != nil {
		return nil // an older primary would take the ack for a position
	}
	return ack(transport.Ack{Folder: folder, Seq: pos, ApplyError: err.Error()})
}
