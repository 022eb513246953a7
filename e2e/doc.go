// Package e2e holds Seen's end-to-end tests: real servers on random
// loopback ports, real sockets, the Go SDK and raw frames.
package e2e
