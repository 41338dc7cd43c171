package secondary

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/transport"
	"github.com/ncsync/ncsync/verify"
)

// startVerify answers a primary's verify request (ncsync verify, run on
// the primary): it walks this node's tree of the folder below the
// requested paths, reading every file, and streams the entries to the
// primary with UploadManifest, in a goroutine started with spawn (the
// session's group) so that applying goes on meanwhile. The session's
// apply loop calls it in stream order: everything the primary sent
// before the request is applied when the walk starts. A failed upload
// only ends that verify (the primary reports it), not the session.
//
// Walks run one at a time, each reading every file: later requests wait
// for the slot, and past maxQueuedVerifies waiting ones a request is
// answered with an error at once, so a primary cannot make this node read
// its tree many times over at once.
func (s *Secondary) startVerify(ctx context.Context, c *transport.Client, q transport.VerifyQuery, spawn func(func() error)) {
	f, ok := s.folders[q.Folder]
	log := s.log.With("folder", q.Folder, "query", q.ID)
	if s.verifyWaiting.Add(1) > maxQueuedVerifies {
		s.verifyWaiting.Add(-1)
		spawn(func() error {
			err := c.UploadManifest(ctx, q.ID, q.Folder, failed{fmt.Errorf("this node is already answering %d verify requests", maxQueuedVerifies)})
			if err != nil && ctx.Err() == nil {
				log.Warn("verify: could not refuse a request", "err", err)
			}
			return nil
		})
		return
	}
	spawn(func() error {
		defer s.verifyWaiting.Add(-1)
		select {
		case s.verifySlot <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		defer func() { <-s.verifySlot }()
		err := func() error {
			if !ok {
				return c.UploadManifest(ctx, q.ID, q.Folder, failed{fmt.Errorf("this node does not replicate folder %q", q.Folder)})
			}
			m, err := ignore.New(q.Ignore)
			if err != nil {
				return c.UploadManifest(ctx, q.ID, q.Folder, failed{fmt.Errorf("the primary's ignore patterns: %w", err)})
			}
			w, err := verify.NewWalker(f.cfg.Path, m, q.Paths)
			if err != nil {
				return c.UploadManifest(ctx, q.ID, q.Folder, failed{err})
			}
			defer w.Close()
			log.Info("verify: sending this node's tree to the primary", "paths", len(q.Paths))
			if err := c.UploadManifest(ctx, q.ID, q.Folder, w); err != nil {
				return err
			}
			log.Info("verify: tree sent", "files", w.Files(), "bytes", w.Bytes())
			return nil
		}()
		if err != nil && ctx.Err() == nil {
			log.Warn("verify: could not send this node's tree", "err", err)
		}
		return nil
	})
}

// maxQueuedVerifies bounds the verify requests a secondary holds, the one
// being answered included.
const maxQueuedVerifies = 4

// failed is a verify.Source that fails at once.
type failed struct{ err error }

func (f failed) Next(context.Context) (verify.Entry, error) {
	if f.err == nil {
		return verify.Entry{}, errors.New("failed")
	}
	return verify.Entry{}, f.err
}
