package flowlog

// maxInterned bounds the intern table; it is emptied when full, so memory
// stays bounded even with unbounded distinct values.
const maxInterned = 4096

// internTable returns one shared string for each distinct byte sequence,
// so the strings repeated by every record and flow (resource IDs, rules,
// ACL IDs, MAC addresses) are allocated once. Strings it returns are
// ordinary immutable Go strings and may be retained by the caller.
type internTable struct {
	m map[string]string
}

func (t *internTable) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := t.m[string(b)]; ok { // no allocation for the lookup
		return s
	}
	if t.m == nil {
		t.m = make(map[string]string, 64)
	} else if len(t.m) >= maxInterned {
		clear(t.m)
	}
	s := string(b)
	t.m[s] = s
	return s
}
