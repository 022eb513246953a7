package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

// A Go client leaves a page limit out by leaving it 0: the server refuses
// an explicit 0, so the paged params must not put one on the wire.
func TestZeroLimitIsLeftOut(t *testing.T) {
	for _, p := range []any{HistoryParams{}, ConversationListParams{}, ReceiptMembersParams{}, GroupMembersParams{}} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"limit"`) {
			t.Errorf("%T with Limit 0 encodes as %s, want no limit", p, b)
		}
	}
	b, _ := json.Marshal(HistoryParams{Limit: 5})
	if !strings.Contains(string(b), `"limit":5`) {
		t.Errorf("HistoryParams{Limit: 5} encodes as %s, want limit 5", b)
	}
}

func TestCheckLimit(t *testing.T) {
	tests := []struct {
		in, want int
		bad      bool
	}{
		{0, DefaultPageLimit, false},
		{1, 1, false},
		{MaxPageLimit, MaxPageLimit, false},
		{MaxPageLimit + 1, 0, true},
		{-1, 0, true},
	}
	for _, tt := range tests {
		got, pe := CheckLimit(tt.in)
		if got != tt.want || (pe != nil) != tt.bad {
			t.Errorf("CheckLimit(%d) = %d, %v; want %d, error %v", tt.in, got, pe, tt.want, tt.bad)
		}
		if pe != nil && pe.Data["field"] != "limit" {
			t.Errorf("CheckLimit(%d): data.field = %v, want limit", tt.in, pe.Data["field"])
		}
	}
	for _, n := range []int{0, -1, MaxPageLimit + 1} {
		if pe := CheckExplicitLimit(n); pe == nil || pe.Code != CodeInvalidParams || pe.Data["field"] != "limit" {
			t.Errorf("CheckExplicitLimit(%d) = %v, want -32602 on limit", n, pe)
		}
	}
}
