// Package sftpserver runs an in-process SFTP server (pkg/sftp's server over
// x/crypto/ssh) on loopback, with a generated host key and one authorized
// client key. It serves the demo. It has no shell: clients of it exercise
// cutover's SFTP READDIR listing; tests use a real OpenSSH sshd instead
// (package testenv).
package sftpserver

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Server is a running SFTP server.
type Server struct {
	Addr       string // host:port
	KeyFile    string // the client's private key
	KnownHosts string // a known_hosts file holding the server's key
	ln         net.Listener
	wg         sync.WaitGroup
}

// Start listens on 127.0.0.1 and writes the client key and known_hosts into dir.
func Start(dir string) (*Server, error) {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, err
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	authorized, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(k.Marshal(), authorized.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("unknown key")
		},
	}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln,
		KeyFile: filepath.Join(dir, "demo_client_key"), KnownHosts: filepath.Join(dir, "demo_known_hosts")}
	block, err := ssh.MarshalPrivateKey(clientPriv, "cutover demo")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.KeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	line := fmt.Sprintf("[%s]:%s %s", host, port, ssh.MarshalAuthorizedKey(hostSigner.PublicKey()))
	if err := os.WriteFile(s.KnownHosts, []byte(line), 0o600); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); serve(c, cfg) }()
		}
	}()
	return s, nil
}

func serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, in, err := nc.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ch.Close()
			for req := range in {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
				req.Reply(ok, nil)
				if !ok {
					continue // no shell, no exec
				}
				srv, err := sftp.NewServer(ch)
				if err != nil {
					return
				}
				srv.Serve()
				srv.Close()
				return
			}
		}()
	}
}

// Close stops the server and waits for its connections.
func (s *Server) Close() error {
	err := s.ln.Close()
	return err
}
