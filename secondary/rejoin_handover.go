package secondary

import (
	"fmt"
	"sync"
)

// Handing over to a primary (`ncsync promote`): the daemon stops Run, asks
// Unsettled what this node holds that is not a verified copy of its old
// primary's tree, and then starts the primary on the same index.

// maxRefusals bounds the refused entries remembered for Unsettled.
const maxRefusals = 100

// refusals remembers the entries this node refused since it started.
type refusals struct {
	mu    sync.Mutex
	items []string
	more  int // refusals beyond maxRefusals
}

func (r *refusals) note(folder, path string, seq uint64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.items) >= maxRefusals {
		r.more++
		return
	}
	r.items = append(r.items, fmt.Sprintf("folder %q: %q (seq %d) was refused: %v", folder, path, seq, err))
}

// Unsettled lists what would make this node an unfaithful primary: entries
// it refused or failed to apply, and batches staged during a pause and
// never applied. Call it after Run has returned (it reads the stages the
// session owns).
func (s *Secondary) Unsettled() ([]string, error) {
	var out []string
	for _, id := range s.order {
		f := s.folders[id]
		f.mu.Lock()
		lastErr := f.lastErr
		f.mu.Unlock()
		if lastErr != "" {
			out = append(out, fmt.Sprintf("folder %q: the last batch failed to apply: %s", id, lastErr))
		}
		if st := s.stages[id]; st != nil {
			pos, err := s.db.Position(id)
			if err != nil {
				return nil, err
			}
			if st.Last() > pos {
				out = append(out, fmt.Sprintf("folder %q: entries %d to %d are staged (a pause held them) and were never applied", id, pos+1, st.Last()))
			}
		}
	}
	s.refused.mu.Lock()
	out = append(out, s.refused.items...)
	if s.refused.more > 0 {
		out = append(out, fmt.Sprintf("and %d more refused entries (see the log)", s.refused.more))
	}
	s.refused.mu.Unlock()
	return out, nil
}

// Order returns the ids of this node's folders in config order.
func (s *Secondary) Order() []string { return append([]string(nil), s.order...) }
