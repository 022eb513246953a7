package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/seen-im/seen/internal/webhook"
)

const (
	// listenMaxBody caps a received body: the largest event Seen sends
	// (a receipt.read with 1,000 new readers) is far below it.
	listenMaxBody = 1 << 20
	// listenTolerance is how far a call's webhook-timestamp may be from
	// the clock, either way: the Standard Webhooks libraries' default.
	listenTolerance = 5 * time.Minute
)

func newWebhookCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Tools for Seen's webhooks (docs/webhooks.md)",
	}
	cmd.AddCommand(newWebhookListenCmd())
	return cmd
}

func newWebhookListenCmd() *cobra.Command {
	var (
		addr, secret string
		delay        time.Duration
		quiet        bool
	)
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Receive webhook calls locally: verify each signature and print the event",
		Long: `Run a local webhook receiver, for trying webhooks on a development machine.

Register its URL with the admin API (POST /v1/admin/webhooks with
"url": "http://127.0.0.1:8787/") and give the secret the answer showed
to --secret. Each call whose Standard Webhooks signature verifies is
answered 204 and printed to stdout (time received, webhook-id, event
type, then the body as indented JSON); a bad or missing signature is
answered 401 and a body that is not JSON 400, both reported on stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A bad secret is refused before listening, not on every call.
			if _, err := webhook.Sign(secret, "x", time.Now(), nil); err != nil {
				return fmt.Errorf("--secret: %w", err)
			}
			if delay < 0 {
				return fmt.Errorf("--delay must not be negative")
			}
			out := cmd.OutOrStdout()
			if quiet {
				out = io.Discard
			}
			return listenWebhooks(cmd.Context(), addr, secret, delay, out, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8787", "address to listen on")
	cmd.Flags().StringVar(&secret, "secret", "", "the endpoint's signing secret, whsec_... (required)")
	cmd.Flags().DurationVar(&delay, "delay", 0, "wait this long before answering each call: a slow app server, to try timeouts and retries")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "print nothing for calls that verify (refusals still go to stderr)")
	_ = cmd.MarkFlagRequired("secret")
	return cmd
}

// listenWebhooks serves the receiver on addr until ctx ends, then shuts
// it down, letting calls in progress finish.
func listenWebhooks(ctx context.Context, addr, secret string, delay time.Duration, out, errOut io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           &webhookReceiver{secret: secret, delay: delay, out: out, errOut: errOut, now: time.Now},
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(errOut, "listening on http://%s/ (Ctrl-C to stop)\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// webhookReceiver verifies and prints webhook calls.
type webhookReceiver struct {
	secret      string
	delay       time.Duration // before answering a call that verifies
	now         func() time.Time
	mu          sync.Mutex // guards out and errOut: one event prints whole
	out, errOut io.Writer
}

func (h *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, "method "+r.Method)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, listenMaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", listenMaxBody))
			return
		}
		h.refuse(w, r, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	// The signature first: an unsigned body is not looked into.
	if err := webhook.Verify(h.secret, r.Header, body, h.now(), listenTolerance); err != nil {
		h.refuse(w, r, http.StatusUnauthorized, err.Error())
		return
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		h.refuse(w, r, http.StatusBadRequest, "body is not JSON: "+err.Error())
		return
	}
	var env struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &env) // a body without a type prints as such
	h.mu.Lock()
	fmt.Fprintf(h.out, "%s  %s  %s\n%s\n\n", h.now().Format(time.RFC3339), r.Header.Get(webhook.HeaderID), env.Type, pretty.Bytes())
	h.mu.Unlock()
	if h.delay > 0 {
		select {
		case <-time.After(h.delay):
		case <-r.Context().Done(): // the caller gave up, or the server stops
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// refuse answers status and says why on stderr: the developer watching
// the receiver sees what the server was told.
func (h *webhookReceiver) refuse(w http.ResponseWriter, r *http.Request, status int, why string) {
	h.mu.Lock()
	fmt.Fprintf(h.errOut, "%s  %s  refused %d: %s\n", h.now().Format(time.RFC3339), r.Header.Get(webhook.HeaderID), status, why)
	h.mu.Unlock()
	http.Error(w, why, status)
}
