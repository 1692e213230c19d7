// Package testenv starts real servers for integration tests: an OpenSSH
// sshd on 127.0.0.1 on a free port, with a generated host key and client
// key, for a test's lifetime. When a server's binaries are missing the test
// is skipped on a developer machine but fails in CI (CI=true), so a green CI
// always means the real servers ran. It is test support only.
package testenv
