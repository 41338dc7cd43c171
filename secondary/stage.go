package secondary

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/stage"
	"github.com/ncsync/ncsync/transport"
)

// Staging while paused. A paused secondary's tree must stay as it is, but
// the changes that arrive meanwhile should not have to be sent again on
// resume. So the primary goes on sending past the hold point, in batches
// marked Stage, up to the stage limit this node announced in its Hello;
// each is stored (entries, and the chunks no file here holds) in the
// folder's stage under the state directory and acknowledged as staged.
// When the pause ends the primary sends an ApplyStaged message: the staged
// batches are applied in order, reading chunks from the stage, and
// acknowledged as applied; then the stage is cleared. The Hello of a new
// session tells the primary where each folder's stage ends, so it goes on
// from there.

// openStages opens the stage of each folder under dir. A stage whose
// files are damaged is dropped: the primary sends its batches again.
func (s *Secondary) openStages(dir string) error {
	s.stages = make(map[string]*stage.Stage)
	for _, id := range s.order {
		d := filepath.Join(dir, id)
		st, err := stage.Open(d)
		if errors.Is(err, stage.ErrCorrupt) {
			s.log.Warn("dropping a damaged stage; the primary will send it again", "folder", id, "dir", d, "err", err)
			if err := os.RemoveAll(d); err != nil {
				return fmt.Errorf("remove damaged stage: %w", err)
			}
			st, err = stage.Open(d)
		}
		if err != nil {
			return fmt.Errorf("folder %q: %w", id, err)
		}
		s.stages[id] = st
	}
	s.countStaged()
	return nil
}

// countStaged updates the staged byte count shown in status.
func (s *Secondary) countStaged() {
	var n int64
	for _, st := range s.stages {
		n += st.Bytes()
	}
	s.stagedBytes.Store(n)
}

// stageHello tells the primary what this node has staged and may stage.
// A stage that was applied (its end is at or before the folder's
// position) but not yet cleared when the node stopped is cleared now.
func (s *Secondary) stageHello(h *transport.Hello) error {
	if s.stages == nil {
		return nil
	}
	h.StageLimit = uint64(s.opts.StageLimit)
	for id, st := range s.stages {
		switch last := st.Last(); {
		case last == 0:
		case last <= h.Positions[id]:
			if err := st.Clear(); err != nil {
				return err
			}
		default:
			if h.Staged == nil {
				h.Staged = make(map[string]uint64)
			}
			h.Staged[id] = last
		}
		h.StagedBytes += uint64(st.Bytes())
	}
	s.countStaged()
	return nil
}

// stageBatch stores a batch received while paused and returns its ack.
// It refuses (ending the session, so nothing is acknowledged) a batch this
// node does not stage: with stage_limit 0, while it is not held at the
// batch's hold point (not paused there), or past its stage_limit.
func (s *Secondary) stageBatch(ctx context.Context, c *transport.Client, b transport.Batch) (transport.Ack, error) {
	st := s.stages[b.Folder]
	if st == nil || s.opts.StageLimit <= 0 {
		return transport.Ack{}, fmt.Errorf("%w: the primary sent a batch to stage in folder %q, but this node does not stage (stage_limit is 0)", errStageRefused, b.Folder)
	}
	pos, err := s.db.Position(b.Folder)
	if err != nil {
		return transport.Ack{}, err
	}
	if pos != b.HeldAt {
		return transport.Ack{}, fmt.Errorf("%w: the primary sent a batch to stage in folder %q for a pause holding this node at sequence %d, but it has applied up to %d: it is not paused there",
			errStageRefused, b.Folder, b.HeldAt, pos)
	}
	entries := b.Entries
	for len(entries) > 0 && entries[0].Seq <= st.Last() {
		entries = entries[1:] // sent again after a reconnect: staged already
	}
	if len(entries) == 0 {
		return transport.Ack{Folder: b.Folder, Seq: st.Last(), Staged: true, StagedBytes: uint64(st.Bytes())}, nil
	}
	var cost int64
	for i := range entries {
		cost += stage.EntryCost(&entries[i])
	}
	s.countStaged()
	if held := s.stagedBytes.Load(); held+cost > s.opts.StageLimit {
		return transport.Ack{}, fmt.Errorf("%w: the primary sent up to %d bytes to stage in folder %q, and %d are staged already: more than this node's stage_limit of %d",
			errStageRefused, cost, b.Folder, held, s.opts.StageLimit)
	}
	need, err := s.chunksToStage(b.Folder, st, entries)
	if err != nil {
		return transport.Ack{}, err
	}
	var pack *stage.Pack
	if len(need) > 0 {
		if pack, err = st.NewPack(); err != nil {
			return transport.Ack{}, err
		}
		defer pack.Abort()
		if err := s.fetchInto(ctx, c, b.Folder, need, pack, cost); err != nil {
			return transport.Ack{}, err
		}
	}
	if err := st.Append(entries, pack); err != nil {
		return transport.Ack{}, fmt.Errorf("stage batch of folder %q: %w", b.Folder, err)
	}
	s.countStaged()
	s.noteHead(b)
	return transport.Ack{Folder: b.Folder, Seq: st.Last(), Staged: true, StagedBytes: uint64(st.Bytes())}, nil
}

// errStageRefused is wrapped by the error of a batch this node refuses to
// stage.
var errStageRefused = errors.New("refused to stage")

// chunksToStage lists, once each, the chunks of entries that neither the
// stage nor a live file on this node holds. (A local file may change
// before the resume applies the batch; its chunk is then fetched then.)
func (s *Secondary) chunksToStage(folder string, st *stage.Stage, entries []index.Entry) ([]chunker.ID, error) {
	var need []chunker.ID
	seen := make(map[chunker.ID]bool)
	err := s.db.View(folder, func(tx *index.Tx) error {
		for _, e := range entries {
			if e.Deleted || e.Kind != index.KindFile {
				continue
			}
			for _, ref := range e.Chunks {
				if seen[ref.ID] || st.Has(ref.ID) {
					continue
				}
				seen[ref.ID] = true
				if _, ok := s.localChunk(tx, ref.ID); !ok {
					need = append(need, ref.ID)
				}
			}
		}
		return nil
	})
	return need, err
}

// fetchInto fetches chunks from the primary (the transport verifies each
// against its id) into pack, at most maxBytes of it. A chunk the primary
// no longer holds is left out: its file changed, and a newer entry
// follows.
func (s *Secondary) fetchInto(ctx context.Context, c *transport.Client, folder string, ids []chunker.ID, pack *stage.Pack, maxBytes int64) error {
	stream, err := c.FetchChunks(ctx, folder, ids)
	if err != nil {
		return err
	}
	defer stream.Close()
	for range ids {
		ch, err := stream.Next()
		if err != nil {
			return fmt.Errorf("fetch chunks to stage in folder %q: %w", folder, err)
		}
		if ch.Missing {
			continue
		}
		if err := pack.Add(ch.ID, ch.Data); err != nil {
			return err
		}
		if pack.Bytes() > maxBytes {
			return fmt.Errorf("%w: chunks to stage in folder %q are larger than their entries announced", errStageRefused, folder)
		}
		s.fetchedBytes.Add(int64(len(ch.Data)))
	}
	return nil
}

// applyStaged applies folder's staged batches in order, acknowledging each
// as applied, then clears the stage.
func (s *Secondary) applyStaged(ctx context.Context, c *transport.Client, folder string, ack func(transport.Ack) error) error {
	st := s.stages[folder]
	_, pos, err := s.processedTo(folder)
	if err != nil {
		return err
	}
	if st != nil && st.Last() > pos {
		s.log.Info("pause ended: applying staged changes", "folder", folder, "from", pos+1, "to", st.Last(), "bytes", st.Bytes())
		err := st.Replay(func(entries []index.Entry) error {
			for len(entries) > 0 && entries[0].Seq <= pos {
				entries = entries[1:] // applied before a restart
			}
			if len(entries) == 0 {
				return nil
			}
			a, err := s.applyBatch(ctx, c, transport.Batch{Folder: folder, Entries: entries}, st, ack, nil)
			if err != nil {
				return err
			}
			pos = max(pos, a.Processed)
			return ack(a)
		})
		if err != nil {
			return fmt.Errorf("apply staged changes of folder %q: %w", folder, err)
		}
	}
	if st != nil {
		if err := st.Clear(); err != nil {
			return err
		}
		s.countStaged()
	}
	// Whatever was staged, the primary waits for an ack at this point.
	durable, processed, err := s.processedTo(folder)
	if err != nil {
		return err
	}
	return ack(transport.Ack{Folder: folder, Seq: durable, Processed: processed})
}

// noteHead records the primary's head sent with a batch, and when the
// folder fell behind it: if everything up to the head known before was
// applied, the oldest change not applied is one first heard of now.
func (s *Secondary) noteHead(b transport.Batch) {
	pos, err := s.db.Position(b.Folder)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSeen = time.Now()
	if b.Head <= s.heads[b.Folder] {
		return
	}
	if err == nil && pos >= s.heads[b.Folder] {
		s.behind[b.Folder] = s.lastSeen
	}
	s.heads[b.Folder] = b.Head
}
