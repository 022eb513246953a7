package store

import (
	"context"
	"errors"
)

// Lookup names the records one request reads before it acts: the peer or
// the group it names, the caller's member record, the messages it acks,
// the conversation's last seq. Asked one by one they cost a networked
// store one round trip each; asked together, one.
type Lookup struct {
	Users    []string
	Groups   []string
	Members  []MemberRef
	Messages []string // by id
	LastSeqs []ConvID
}

// Found answers a Lookup with slices aligned with its keys: entry i is
// the record of key i, or the zero value if there is none (ID "" for a
// user, a group or a message, UserID "" for a member, 0 for a last seq).
// Slices, not maps: on the embedded store, where Find is a few calls in
// the process, hashing the keys into maps cost an ack more than the calls.
type Found struct {
	Users    []User
	Groups   []Group
	Members  []Member
	Messages []Message
	LastSeqs []uint64
}

// Finder reads a Lookup's records in one call.
type Finder interface {
	// Find returns every record q names that exists. Each is read no
	// earlier than the call, so it reflects every write committed before
	// it; they need not come from one snapshot, as separate calls would
	// not. What Found holds is the caller's to change, but for message
	// bodies, which a store may share with its cache (as GetMessage's):
	// they are read-only.
	Find(ctx context.Context, q Lookup) (Found, error)
}

// pointReader is what FindEach reads through.
type pointReader interface {
	GetUser(ctx context.Context, id string) (User, error)
	GetGroup(ctx context.Context, id string) (Group, error)
	GetMember(ctx context.Context, conv ConvID, userID string) (Member, error)
	GetMessages(ctx context.Context, ids []string) ([]Message, error)
	LastSeq(ctx context.Context, conv ConvID) (uint64, error)
}

// FindEach answers q with a call per record through r: for a store in the
// same process, where a call costs no round trip.
func FindEach(ctx context.Context, r pointReader, q Lookup) (Found, error) {
	var f Found
	var err error
	if f.Users, err = findEach(ctx, q.Users, r.GetUser); err != nil {
		return Found{}, err
	}
	if f.Groups, err = findEach(ctx, q.Groups, r.GetGroup); err != nil {
		return Found{}, err
	}
	if f.Members, err = findEach(ctx, q.Members, func(ctx context.Context, ref MemberRef) (Member, error) {
		return r.GetMember(ctx, ref.Conv, ref.UserID)
	}); err != nil {
		return Found{}, err
	}
	if f.LastSeqs, err = findEach(ctx, q.LastSeqs, r.LastSeq); err != nil {
		return Found{}, err
	}
	if len(q.Messages) > 0 {
		if f.Messages, err = r.GetMessages(ctx, q.Messages); err != nil {
			return Found{}, err
		}
	}
	return f, nil
}

// findEach gets every key through get, a zero entry for those not found.
func findEach[K comparable, V any](ctx context.Context, keys []K, get func(context.Context, K) (V, error)) ([]V, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	out := make([]V, len(keys))
	for i, k := range keys {
		v, err := get(ctx, k)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, err
		default:
			out[i] = v
		}
	}
	return out, nil
}
