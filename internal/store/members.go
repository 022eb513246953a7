package store

import "errors"

// ErrEmptyMemberID is returned for a member with no user id.
var ErrEmptyMemberID = errors.New("store: empty member user id")

// InitialMembers is the members a new group starts with, as every backend
// stores them: each user once (the first entry wins), with its role and
// join time, JoinSeq 1 and no watermarks yet.
func InitialMembers(members []Member) ([]Member, error) {
	initial := make([]Member, 0, len(members))
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if m.UserID == "" {
			return nil, ErrEmptyMemberID
		}
		if seen[m.UserID] {
			continue
		}
		seen[m.UserID] = true
		initial = append(initial, Member{UserID: m.UserID, Role: m.Role, JoinSeq: 1, JoinedAt: m.JoinedAt})
	}
	return initial, nil
}
