package server

import (
	"log/slog"
	"net/http"
	"time"
)

// logConns logs each WebSocket at debug level when it opens and when it
// ends: at info, a busy node would log thousands of lines a second. A
// refused handshake (a foreign origin) is logged by the ws handler.
func logConns(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		log.Debug("websocket opened", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"))
		// w is passed on untouched: the handler hijacks it.
		next.ServeHTTP(w, r)
		log.Debug("websocket closed", "remote", r.RemoteAddr, "duration", time.Since(start).Round(time.Millisecond))
	})
}

// logAdmin logs admin API calls: those that change something at info (an
// operator wants to know who created, removed or minted what), reads and
// metrics scrapes at debug. Only the method, the path (user and group ids,
// never a key or token: those travel in headers and bodies, which are not
// logged), the caller's address and the status are logged.
func logAdmin(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		level := slog.LevelInfo
		switch {
		case rec.status == http.StatusUnauthorized:
			level = slog.LevelWarn // a missing or wrong key: worth an operator's eye
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			level = slog.LevelDebug
		}
		log.Log(r.Context(), level, "admin request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "remote", r.RemoteAddr, "duration", time.Since(start).Round(time.Microsecond))
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
