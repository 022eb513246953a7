package client

import (
	"context"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := newConfig("ws://x/v1/ws", "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.reconnect || !cfg.autoDelivered {
		t.Errorf("got reconnect %v, autoDelivered %v, want both on", cfg.reconnect, cfg.autoDelivered)
	}
	if cfg.deliveredDelay != DefaultDeliveredDelay || cfg.backoffMin != DefaultBackoffMin ||
		cfg.backoffMax != DefaultBackoffMax || cfg.eventQueue != DefaultEventQueue || cfg.readLimit != DefaultReadLimit {
		t.Errorf("got %+v, want the defaults", cfg)
	}
	if cfg.logger == nil {
		t.Error("got nil logger, want a discarding one")
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name       string
		url, token string
		opts       []Option
	}{
		{"no url", "", "tok", nil},
		{"no token", "ws://x", "", nil},
		{"backoff min > max", "ws://x", "tok", []Option{WithBackoff(time.Second, time.Millisecond)}},
		{"zero backoff", "ws://x", "tok", []Option{WithBackoff(0, 0)}},
		{"negative delay", "ws://x", "tok", []Option{WithDeliveredDelay(-1)}},
		{"empty queue", "ws://x", "tok", []Option{WithEventQueueSize(0)}},
		{"zero connect timeout", "ws://x", "tok", []Option{WithConnectTimeout(0)}},
	}
	for _, tt := range tests {
		if _, err := newConfig(tt.url, tt.token, tt.opts); err == nil {
			t.Errorf("%s: got no error, want one", tt.name)
		}
	}
}

func TestConfigTokenProviderAlone(t *testing.T) {
	_, err := newConfig("ws://x", "", []Option{WithTokenProvider(nil), WithTokenProvider(func(context.Context) (string, error) { return "t", nil })})
	if err != nil {
		t.Errorf("got %v, want a token provider to stand in for the token", err)
	}
}
