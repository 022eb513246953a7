package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seen-im/seen/protocol"
)

// maxAnswerBytes bounds what the client reads of one answer: the largest
// is a page of receipt members, far below this.
const maxAnswerBytes = 4 << 20

// Client calls the server API of one Seen server. It is safe for
// concurrent use.
type Client struct {
	base string
	key  string
	hc   *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (timeouts, TLS, proxies). The default
// is http.DefaultClient; bound each call with its context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// New returns a client of the server API at baseURL (e.g.
// "http://127.0.0.1:8080", or the SEEN_ADMIN_LISTEN address when the admin
// API has its own listener) authenticated by key (SEEN_ADMIN_KEY, or the
// data directory's admin-key file).
func New(baseURL, key string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), key: strings.TrimSpace(key), hc: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Token is a user token and its expiry.
type Token struct {
	Token     string
	ExpiresAt time.Time
}

// Group describes a group to create.
type Group struct {
	GroupID string
	// Type is the group type ("" for the server's default); receipts
	// follow the type's policy.
	Type    string
	Owner   string
	Members []string
}

// CreateUser creates a user (POST /v1/admin/users); name may be empty.
// created is false when the user already existed.
func (c *Client) CreateUser(ctx context.Context, userID, name string) (created bool, err error) {
	body := map[string]string{"userId": userID}
	if name != "" {
		body["name"] = name
	}
	status, err := c.do(ctx, http.MethodPost, "/v1/admin/users", body, nil)
	return status == http.StatusCreated, err
}

// MintToken asks the server for a token for userID valid for ttl, in whole
// seconds (POST /v1/admin/tokens); ttl 0 takes the server's default of 24
// hours. SignToken does the same locally with the token secret.
func (c *Client) MintToken(ctx context.Context, userID string, ttl time.Duration) (Token, error) {
	body := map[string]any{"userId": userID}
	if ttl != 0 {
		body["ttlSeconds"] = int64(ttl / time.Second)
	}
	var res struct {
		Token     string `json:"token"`
		ExpiresAt int64  `json:"expiresAt"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/admin/tokens", body, &res); err != nil {
		return Token{}, err
	}
	return Token{Token: res.Token, ExpiresAt: time.UnixMilli(res.ExpiresAt)}, nil
}

// CreateGroup creates a group with its owner and first members
// (POST /v1/admin/groups).
func (c *Client) CreateGroup(ctx context.Context, g Group) error {
	body := struct {
		protocol.GroupCreateParams
		Owner string `json:"owner"`
	}{protocol.GroupCreateParams{GroupID: g.GroupID, Type: g.Type, Members: g.Members}, g.Owner}
	_, err := c.do(ctx, http.MethodPost, "/v1/admin/groups", body, nil)
	return err
}

// AddMembers adds users to a group with role ("" for a plain member)
// (POST /v1/admin/groups/{groupId}/members).
func (c *Client) AddMembers(ctx context.Context, groupID string, userIDs []string, role string) error {
	body := map[string]any{"userIds": userIDs}
	if role != "" {
		body["role"] = role
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/admin/groups/"+url.PathEscape(groupID)+"/members", body, nil)
	return err
}

// RemoveMember removes a user from a group
// (DELETE /v1/admin/groups/{groupId}/members/{userId}).
func (c *Client) RemoveMember(ctx context.Context, groupID, userID string) error {
	_, err := c.do(ctx, http.MethodDelete, memberPath(groupID, userID), nil, nil)
	return err
}

// SetRole changes a member's role (PUT /v1/admin/groups/{groupId}/members/{userId}).
// Making a member the owner makes the previous owner an admin.
func (c *Client) SetRole(ctx context.Context, groupID, userID, role string) error {
	_, err := c.do(ctx, http.MethodPut, memberPath(groupID, userID), map[string]string{"role": role}, nil)
	return err
}

// Send sends a message as from, to the conversation as from sees it
// (POST /v1/admin/messages). Every device of every member hears of it, the
// sender's included. An empty p.ClientMsgID is filled in with a random one;
// set it yourself to repeat a send that failed in transit without creating
// a second message.
func (c *Client) Send(ctx context.Context, from string, p protocol.SendParams) (protocol.SendResult, error) {
	if p.ClientMsgID == "" {
		p.ClientMsgID = rand.Text()
	}
	body := struct {
		protocol.SendParams
		From string `json:"from"`
	}{p, from}
	var res protocol.SendResult
	_, err := c.do(ctx, http.MethodPost, "/v1/admin/messages", body, &res)
	return res, err
}

// Receipt returns a message's receipt as its sender sees it
// (GET /v1/admin/messages/{msgId}/receipt).
func (c *Client) Receipt(ctx context.Context, msgID string) (protocol.Receipt, error) {
	var res protocol.Receipt
	_, err := c.do(ctx, http.MethodGet, "/v1/admin/messages/"+url.PathEscape(msgID)+"/receipt", nil, &res)
	return res, err
}

// ReceiptMembers lists a page of who read, did not read, received or did
// not receive a message (GET /v1/admin/messages/{msgId}/members). filter is
// one of protocol.FilterRead, FilterUnread, FilterDelivered,
// FilterUndelivered; cursor is "" for the first page, then the previous
// page's NextCursor; limit 0 takes the server's default.
func (c *Client) ReceiptMembers(ctx context.Context, msgID, filter, cursor string, limit int) (protocol.ReceiptMembersResult, error) {
	q := url.Values{"filter": {filter}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var res protocol.ReceiptMembersResult
	_, err := c.do(ctx, http.MethodGet, "/v1/admin/messages/"+url.PathEscape(msgID)+"/members?"+q.Encode(), nil, &res)
	return res, err
}

func memberPath(groupID, userID string) string {
	return "/v1/admin/groups/" + url.PathEscape(groupID) + "/members/" + url.PathEscape(userID)
}

// do sends one request and decodes a 2xx answer into out (when not nil).
// A non-2xx answer becomes the *protocol.Error the server sent, or, when
// the body is not one (a proxy's error page, say), a *protocol.Error with
// the HTTP status as its code.
func (c *Client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	what := method + " " + path
	if i := strings.IndexByte(what, '?'); i >= 0 {
		what = what[:i]
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("admin: %s: encode: %w", what, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("admin: %s: %w", what, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("admin: %s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("admin: %s: read answer: %w", what, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, answerError(resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("admin: %s: decode answer: %w", what, err)
		}
	}
	return resp.StatusCode, nil
}

// answerError turns an error answer into the *protocol.Error it carries.
func answerError(status int, data []byte) error {
	var e struct {
		Error *protocol.Error `json:"error"`
	}
	if err := json.Unmarshal(data, &e); err == nil && e.Error != nil && e.Error.Code != 0 {
		return e.Error
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &protocol.Error{Code: status, Message: msg}
}
