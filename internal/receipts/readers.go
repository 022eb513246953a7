package receipts

// ReadersSince lists, in no particular order, the eligible members of
// message seq sent by sender who read it after since (Unix ms): the new
// readers a webhook report names when it has no list of its own (a report
// made after a restart, or of reads whose notices were lost).
//
// A read's time is known for a single-message ack and for a watermark move
// among the member's last 8 (history): those count when their time is
// after since. A member whose read of seq has no known time (older moves,
// or a member restored from the store, whose history holds only its last
// move) counts when its read watermark last moved after since, as the
// move that covered seq may be that one; such members are looked at only
// if the members of known time are fewer than want, the number of new
// readers the caller expects (the count's rise since its last report), so
// an engine that knows every time names exactly the new readers, and one
// that does not names too many rather than too few.
//
// At most limit ids are returned (limit < 1: no bound); more is true if
// there were more. Cost: O(readers of seq), once per report, never per
// ack.
func (c *Conv) ReadersSince(seq uint64, sender string, since int64, want, limit int) (ids []string, more bool) {
	var unknown []string
	add := func(id string) bool {
		if limit > 0 && len(ids) == limit {
			more = true
			return false
		}
		ids = append(ids, id)
		return true
	}
	stopped := false
	c.sparseRead.ascend(key{seq: seq}, func(k key) bool {
		if k.seq != seq {
			return false
		}
		if k.id == sender {
			return true
		}
		if a, _ := c.members[k.id].ack(seq); a.At > since {
			if !add(k.id) {
				stopped = true
				return false
			}
		}
		return true
	})
	if stopped {
		return ids, more
	}
	c.read.ascend(key{seq: seq}, func(k key) bool {
		if k.id == sender {
			return true
		}
		m := c.members[k.id]
		if m.join > seq {
			return true
		}
		switch at := m.readHist.lookup(seq); {
		case at > since:
			if !add(k.id) {
				return false
			}
		case at == 0 && m.readAt > since:
			unknown = append(unknown, k.id)
		}
		return true
	})
	if more || len(ids) >= want {
		return ids, more
	}
	for _, id := range unknown {
		if !add(id) {
			break
		}
	}
	return ids, more
}
