package secondary

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/transport"
)

// idleRelease is how long after the last batch the secondary returns its
// free heap to the system (measured at rest with 100,000 files: 72 MiB
// anonymous memory before, see README "At rest").
const idleRelease = 10 * time.Second

// errStartAgain ends a session that changed what this node asks the
// primary for: it adopted the primary's lineage (rejoin.go), or only asked
// for it (a probe). Run starts the next session at once, from the
// positions now recorded.
var errStartAgain = errors.New("start again from the positions now recorded")

// session runs one connection to the primary: handshake, then receive and
// apply batches, acknowledging each once durable. Run calls it in a loop.
func (s *Secondary) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	meta, err := s.db.Meta()
	if err != nil {
		return err
	}
	follow := expectedPrimary(meta, s.opts.Node, s.opts.PrimaryNode)
	c, err := transport.Dial(ctx, s.opts.Primary, s.opts.TLS, s.opts.Limits,
		transport.WithServerCheck(s.serverCheck(follow, true)))
	if err != nil {
		return err
	}
	defer c.Close()

	h := transport.Hello{ClusterID: s.opts.ClusterID, Node: s.opts.Node, Role: pki.RoleSecondary,
		Epoch: meta.Epoch, Positions: make(map[string]uint64), Lineage: meta.Lineage, ChunkDeltas: true}
	for _, id := range s.order {
		if h.Positions[id], err = s.db.Position(id); err != nil {
			return err
		}
	}
	probe := s.probe.Swap(false)
	if probe {
		// Only to learn the primary's lineage (see rejoin.go): a Hello
		// without folders is welcomed whatever our positions are, and,
		// without our epoch, even by a stale primary (which refuses the
		// full Hello): this node then refuses it itself (checkLineage),
		// naming both epochs. Nothing is sent for no folders.
		h.Positions = map[string]uint64{}
		h.Epoch = 0
	} else if err := s.stageHello(&h); err != nil {
		return err
	}
	sess, w, err := c.Sync(ctx, h)
	if err != nil {
		if errors.Is(err, transport.ErrStaleEpoch) && !probe {
			// Perhaps ahead of a new primary: look at its lineage next.
			s.probe.Store(true)
		}
		return err
	}
	defer sess.Close()
	if w.ClusterID != s.opts.ClusterID {
		return fmt.Errorf("primary %q belongs to cluster %s, this node to %s", w.Node, w.ClusterID, s.opts.ClusterID)
	}
	next, err := s.checkPrimary(meta, follow, w)
	if err != nil {
		return err
	}
	moved, err := s.adopt(ctx, meta, w, next)
	if err != nil {
		return err
	}
	if moved || probe {
		return errStartAgain
	}
	for _, id := range s.order {
		if _, ok := w.Folders[id]; !ok {
			s.log.Warn("the primary does not replicate this folder", "folder", id, "primary", w.Node)
		}
	}
	s.mu.Lock()
	s.connected, s.since, s.lastSeen, s.lastErr, s.epoch, s.primaryNode = true, time.Now(), time.Now(), "", w.Epoch, w.Node
	for id, head := range w.Folders {
		if pos, err := s.db.Position(id); err == nil && pos < head {
			if _, ok := s.behind[id]; !ok || pos >= s.heads[id] {
				s.behind[id] = time.Now()
			}
		}
		s.heads[id] = head
		s.catchUp[id] = head
	}
	s.mu.Unlock()
	s.log.Info("following primary", "primary", w.Node, "addr", s.opts.Primary, "epoch", w.Epoch)
	defer s.setPause(transport.PauseState{}) // the primary tells it again in the next session
	defer s.heal.follow(c)()                 // repairs fetch through this client (heal.go)

	for _, id := range s.order {
		f := s.folders[id]
		f.skips.begin() // the primary sends from the durable position
		f.unbuilt.begin()
		f.recent.begin()
	}

	// Receive ahead of applying so the network and the disk overlap.
	batches := make(chan transport.Message, 2)
	g, ctx := errgroup.WithContext(ctx)
	// busy counts the batches received and not yet done; activity is
	// told whenever one arrives or is done (watchSkips, skips.go).
	var busy atomic.Int64
	activity := make(chan struct{}, 1)
	move := func(d int64) {
		busy.Add(d)
		select {
		case activity <- struct{}{}:
		default:
		}
	}
	g.Go(func() error { return s.watchSkips(ctx, &busy, activity) })
	// When either side of the pipeline fails, end the stream so the
	// receiver blocked in Recv returns too.
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	g.Go(func() error {
		defer close(batches)
		for {
			b, err := sess.Recv()
			if err != nil {
				if ctx.Err() == nil {
					s.setDisconnected(err) // at once: the applier may take a moment to stop
				}
				return err
			}
			if bt, ok := b.(transport.Batch); ok {
				if err := s.buildLists(ctx, c, &bt); err != nil { // delta.go
					return err
				}
				b = bt
			}
			move(1)
			select {
			case batches <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	// Once batches stop coming, hand the heap of the last ones back to
	// the system: an idle daemon allocates next to nothing, so the
	// runtime would return it only slowly.
	idle := time.AfterFunc(idleRelease, debug.FreeOSMemory)
	defer idle.Stop()
	ready := make(chan prepared, 1)
	g.Go(func() error { return s.prepare(ctx, c, batches, ready) })
	defer func() { // what was prepared and not applied
		for r := range ready {
			if r.src != nil {
				r.src.close()
			}
		}
	}()
	g.Go(func() error {
		for r := range ready {
			idle.Reset(idleRelease)
			var a transport.Ack
			var err error
			switch m := r.m.(type) {
			case transport.ApplyStaged: // acknowledges as it goes
				if err := s.applyStaged(ctx, c, m.Folder, sess.Ack); err != nil {
					s.applyFailed(ctx, m.Folder, err, sess.Ack)
					return err
				}
				move(-1)
				continue
			case transport.TreeHashQuery:
				if err := sess.ReportTreeHash(s.treeHashReport(m)); err != nil {
					return err
				}
				move(-1)
				continue
			case transport.PauseState:
				s.setPause(m)
				move(-1)
				continue
			case transport.VerifyQuery: // answered with an upload
				s.startVerify(ctx, c, m, g.Go) // verify.go
				move(-1)
				continue
			case transport.Batch:
				if m.Stage {
					a, err = s.stageBatch(ctx, c, m)
				} else {
					a, err = s.applyRetrying(ctx, c, m, sess.Ack, r.src) // retry.go
				}
				if err != nil {
					s.applyFailed(ctx, m.Folder, err, sess.Ack)
					return err
				}
			default:
				return fmt.Errorf("unexpected %T from the primary", m)
			}
			if err := sess.Ack(a); err != nil {
				return err
			}
			move(-1)
		}
		return nil
	})
	return g.Wait()
}

// prepared is a message of the primary with, for a batch to apply, its
// chunk source, planned and with its chunk stream open.
type prepared struct {
	m   transport.Message
	src *source
}

// prepare passes the received batches on to the applier in order. A batch
// to apply gets its source first: its chunks are planned and its chunk
// stream is opened as soon as the batch before it has received all of its
// own chunks, so that the next batch's data flows while the one before is
// still written, committed and acknowledged. (Planned that early, a chunk
// that the batch before brings is fetched again rather than copied; its
// files are not in the index yet.)
func (s *Secondary) prepare(ctx context.Context, c *transport.Client, batches <-chan transport.Message, ready chan<- prepared) error {
	defer close(ready)
	var drained <-chan struct{} // of the last source prepared
	for m := range batches {
		r := prepared{m: m}
		if b, ok := m.(transport.Batch); ok && !b.Stage && s.checkBatch(b) == nil {
			f := s.folders[b.Folder]
			if drained != nil {
				select {
				case <-drained:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			r.src = newSource(ctx, s, c, b.Folder, f.notIgnored(b.Entries), nil)
			_ = r.src.openStream() // a failure shows when the chunks are read
			drained = r.src.drained
		}
		select {
		case ready <- r:
		case <-ctx.Done():
			if r.src != nil {
				r.src.close()
			}
			return ctx.Err()
		}
	}
	return nil
}
