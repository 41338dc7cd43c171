package index

// MarshalEntry returns the index's own encoding of e (path and sequence
// included), for stores kept beside the index, such as a secondary's
// staging log.
func MarshalEntry(e *Entry) []byte {
	b, _ := encodeEntry(e)
	return b
}

// UnmarshalEntry decodes what MarshalEntry returned. Bad input is an
// error wrapping ErrCorrupt, never a panic.
func UnmarshalEntry(b []byte) (Entry, error) { return decodeEntry(b) }
