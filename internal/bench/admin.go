package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/seen-im/seen/protocol"
)

// adminCall sends one admin API request and decodes the answer into res
// (nil discards it). An error answer becomes a *protocol.Error.
func (e *env) adminCall(ctx context.Context, method, path string, body, res any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("bench: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.o.AdminURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.o.AdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.admin.Do(req)
	if err != nil {
		return fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error *protocol.Error `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
			return fmt.Errorf("bench: %s %s: %w", method, path, eb.Error)
		}
		return fmt.Errorf("bench: %s %s: HTTP %d %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if res != nil && len(data) > 0 {
		if err := json.Unmarshal(data, res); err != nil {
			return fmt.Errorf("bench: decode %s %s: %w", method, path, err)
		}
	}
	return nil
}

// createUsers creates users through the admin API, AdminConcurrency calls
// at a time (the API takes one user per call), and records the step.
func (e *env) createUsers(ctx context.Context, rep *Report, users []string) error {
	start := time.Now()
	e.log.Info("creating users", "n", len(users), "concurrency", e.o.AdminConcurrency)
	err := parallel(ctx, len(users), e.o.AdminConcurrency, func(ctx context.Context, i int) error {
		return e.adminCall(ctx, "POST", "/v1/admin/users", map[string]string{"userId": users[i]}, nil)
	})
	if err != nil {
		return fmt.Errorf("create users: %w", err)
	}
	rep.Setup = append(rep.Setup, Step{Name: "create users (admin API)", N: len(users), Sec: time.Since(start).Seconds()})
	return nil
}

// createGroup creates a group with all its members in one admin call:
// adding them later would send every member a group.member event per
// added member, members² events in all.
func (e *env) createGroup(ctx context.Context, rep *Report, id, owner string, members []string) error {
	start := time.Now()
	err := e.adminCall(ctx, "POST", "/v1/admin/groups", map[string]any{
		"groupId": id, "owner": owner, "members": members,
	}, nil)
	if pe := (*protocol.Error)(nil); errors.As(err, &pe) && pe.Code == protocol.CodeConflict {
		return fmt.Errorf("group %s exists already: use a fresh --prefix (or --setup=false to reuse it): %w", id, err)
	}
	if err != nil {
		return fmt.Errorf("create group %s: %w", id, err)
	}
	if rep != nil {
		rep.Setup = append(rep.Setup, Step{Name: "create group " + id, N: len(members) + 1, Sec: time.Since(start).Seconds()})
	}
	return nil
}
