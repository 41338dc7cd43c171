package secondary

import "fmt"

// Handing over to a primary (`ncsync promote`): the daemon stops Run, asks
// Unsettled what this node holds that is not a verified copy of its old
// primary's tree, and then starts the primary on the same index.

// maxListed bounds the refused entries Unsettled lists one by one.
const maxListed = 100

// Unsettled lists what would make this node an unfaithful primary: entries
// it refused (recorded in the index until the path is stored again, so a
// restart does not forget them) or failed to apply, and batches staged
// during a pause and never applied. Call it after Run has returned (it reads the stages the
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
	refused, err := s.db.Refused()
	if err != nil {
		return nil, err
	}
	for i, r := range refused {
		if i == maxListed {
			out = append(out, fmt.Sprintf("and %d more refused entries (see the log)", len(refused)-i))
			break
		}
		out = append(out, fmt.Sprintf("folder %q: %q (seq %d) was refused: %s", r.Folder, r.Path, r.Seq, r.Msg))
	}
	return out, nil
}

// Order returns the ids of this node's folders in config order.
func (s *Secondary) Order() []string { return append([]string(nil), s.order...) }
