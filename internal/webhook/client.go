package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrPrivateTarget refuses a call to a loopback, private or link-local
// address when DenyPrivate is set.
var ErrPrivateTarget = errors.New("webhook: target address is loopback, private or link-local (deny_private)")

// newClient returns the HTTP client of the dispatcher.
//
// Redirects are not followed: the 3xx is the answer, and a failed attempt.
// Following one would send the signed event to a URL the operator never
// registered (an endpoint taken over could bounce events anywhere), a 301,
// 302 or 303 would turn the POST into a GET and drop the body, and the
// fix, registering the final URL, is the operator's to make.
//
// No proxy from the environment is used: with deny_private the address
// checked must be the endpoint's, not a proxy's, and a dispatcher whose
// target depended on HTTPS_PROXY would be hard to reason about.
func newClient(timeout time.Duration, denyPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if denyPrivate {
		// The check runs on the address actually dialled, after DNS
		// resolution, so a name that resolves to a public address when
		// registered and to 127.0.0.1 later (DNS rebinding) is refused
		// all the same.
		d.Control = refusePrivate
	}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: t,
		// The whole call, body included, is bounded (besides the
		// attempt's context).
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// refusePrivate is a net.Dialer Control function: it refuses to connect
// to loopback, private (RFC 1918, RFC 4193), link-local, unspecified and
// multicast addresses, IPv4-mapped IPv6 forms included.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrPrivateTarget, address)
	}
	if privateAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrPrivateTarget, ap.Addr())
	}
	return nil
}

func privateAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() ||
		cgnat.Contains(a)
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598),
// private in all but name.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")
