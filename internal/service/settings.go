package service

import (
	"context"
	"errors"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// Private reading. Every ack is applied with the setting the user has in
// the store at that moment, whatever device or client sends it, so a
// switch flipped on one device holds for all of them at once, on every
// node. A read is private (it moves only the reader's own read state) when
// the call says private: true or the user's shareReads is false, unless
// the group's type requires sharing (RequireSharing), where every read is
// shared and private: true is refused.

// Settings answers settings.get.
func (s *Service) Settings(ctx context.Context, c Caller, _ protocol.Empty) (protocol.Settings, error) {
	st, err := s.settingsOf(ctx, c.UserID)
	return wireSettings(st), err
}

// UpdateSettings answers settings.update and tells the user's other
// devices (settings.changed).
func (s *Service) UpdateSettings(ctx context.Context, c Caller, p protocol.SettingsUpdateParams) (protocol.Settings, error) {
	return s.updateSettings(ctx, c.UserID, c.ConnID, p)
}

// AdminSettings returns a user's settings (admin API).
func (s *Service) AdminSettings(ctx context.Context, userID string) (protocol.Settings, error) {
	st, err := s.settingsOf(ctx, userID)
	return wireSettings(st), err
}

// AdminUpdateSettings changes a user's settings (admin API); every device
// of the user hears of it.
func (s *Service) AdminUpdateSettings(ctx context.Context, userID string, p protocol.SettingsUpdateParams) (protocol.Settings, error) {
	return s.updateSettings(ctx, userID, "", p)
}

// updateSettings applies p in the store, atomically (two devices changing
// different switches at once both hold). An update that changes nothing
// writes nothing and sends no event.
func (s *Service) updateSettings(ctx context.Context, user, exceptConn string, p protocol.SettingsUpdateParams) (protocol.Settings, error) {
	st, err := s.settingsOf(ctx, user)
	if err != nil {
		return protocol.Settings{}, err
	}
	if (p.ShareReads == nil || *p.ShareReads == st.ShareReads) && (p.ShareDelivery == nil || *p.ShareDelivery == st.ShareDelivery) {
		return wireSettings(st), nil
	}
	s.settings.changed(user)
	next, err := s.store.UpdateSettings(ctx, user, p.ShareReads, p.ShareDelivery)
	s.settings.changed(user)
	if err != nil {
		return protocol.Settings{}, s.settingsErr(ctx, user, "update settings", err)
	}
	w := wireSettings(next)
	s.publish(ctx, []string{user}, exceptConn, protocol.EventSettingsChanged, w)
	return w, nil
}

// settingsOf reads user's settings: 404 for an unknown user.
func (s *Service) settingsOf(ctx context.Context, user string) (store.Settings, error) {
	st, err := s.cachedSettings(ctx, user)
	if err != nil {
		return store.Settings{}, s.settingsErr(ctx, user, "get settings", err)
	}
	return st, nil
}

func (s *Service) settingsErr(ctx context.Context, user, op string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return protocol.Errorf(protocol.CodeNotFound, "no such user %q", user)
	}
	return s.internal(ctx, op, err)
}

func wireSettings(st store.Settings) protocol.Settings {
	return protocol.Settings{ShareReads: st.ShareReads, ShareDelivery: st.ShareDelivery}
}

// readPrivately decides whether a read by caller in ref is private: asked
// (private: true) or the user's shareReads is off. Where the group's type
// requires sharing, every read is shared and an asked private read is
// refused (403) before anything changes.
func (s *Service) readPrivately(ctx context.Context, ref convRef, user string, asked bool) (bool, error) {
	if ref.id.IsGroup() && s.cfg.Receipts.SharingRequired(ref.group.Type) {
		if asked {
			return false, protocol.Errorf(protocol.CodeForbidden, "reads in groups of type %q are always shared: private reads are refused", ref.group.Type)
		}
		return false, nil
	}
	if asked {
		return true, nil
	}
	st, err := s.settingsOf(ctx, user)
	if err != nil {
		return false, err
	}
	return !st.ShareReads, nil
}

// seesReceipts applies the reciprocal policy: with it on, a user who hides
// its reads sees nobody's.
func (s *Service) seesReceipts(ctx context.Context, user string) (bool, error) {
	if !s.cfg.Receipts.Reciprocal {
		return true, nil
	}
	st, err := s.settingsOf(ctx, user)
	if err != nil {
		return false, err
	}
	return st.ShareReads, nil
}

// mayQueryReceipts is seesReceipts as a 403 for receipt.query and
// receipt.members.
func (s *Service) mayQueryReceipts(ctx context.Context, user string) error {
	ok, err := s.seesReceipts(ctx, user)
	if err != nil {
		return err
	}
	if !ok {
		return protocol.Errorf(protocol.CodeForbidden, "you do not share your reads, so you see no one's (reciprocal receipts)")
	}
	return nil
}

// receiptEventsTo filters users down to those who may get receipt.read and
// receipt.changed under the reciprocal policy. A failed lookup keeps the
// event from that user: an event is at most once, and hiding is the safe
// side.
func (s *Service) receiptEventsTo(ctx context.Context, users []string) []string {
	if !s.cfg.Receipts.Reciprocal {
		return users
	}
	out := users[:0:0]
	for _, u := range users {
		ok, err := s.seesReceipts(ctx, u)
		if err != nil {
			s.log.WarnContext(ctx, "reciprocal receipts: settings", "user", u, "err", err)
			continue
		}
		if ok {
			out = append(out, u)
		}
	}
	return out
}
