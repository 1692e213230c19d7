// Copyright 2026 The cutover Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package ssh

import (
	"bufio"
	"bytes"
	"crypto"
	crand "crypto/rand"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
)

// pooledStream writes n bytes of a seeded stream to w in chunks of random
// sizes (up to past a packet), and returns their SHA-256.
func pooledStream(w io.Writer, seed uint64, n int) ([]byte, error) {
	r := rand.New(rand.NewPCG(seed, 1))
	h := sha256.New()
	buf := make([]byte, 3*channelMaxPacket)
	for n > 0 {
		k := min(n, 1+r.IntN(len(buf)))
		for i := range buf[:k] {
			buf[i] = byte(r.Uint32())
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return nil, err
		}
		h.Write(buf[:k])
		n -= k
	}
	return h.Sum(nil), nil
}

// TestPooledPacketsKeepTheirData sends stdout and stderr at once, many
// packets each, read in sizes that end inside packets and span several,
// and checks every byte: a pooled buffer put back while its data was
// still to be read would show here.
func TestPooledPacketsKeepTheirData(t *testing.T) {
	const outBytes, errBytes = 24 << 20, 3 << 20
	var sums [2][]byte
	handler := func(ch Channel, in <-chan *Request, t *testing.T) {
		defer ch.Close()
		for req := range in {
			req.Reply(req.Type == "shell", nil)
			if req.Type == "shell" {
				break
			}
		}
		go DiscardRequests(in)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); sums[0], _ = pooledStream(ch, 1, outBytes) }()
		go func() { defer wg.Done(); sums[1], _ = pooledStream(ch.Stderr(), 2, errBytes) }()
		wg.Wait()
		sendStatus(0, ch, t)
	}
	conn := dial(handler, t)
	defer conn.Close()
	session, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	stdout, _ := session.StdoutPipe()
	stderr, _ := session.StderrPipe()
	if err := session.Shell(); err != nil {
		t.Fatal(err)
	}
	read := func(r io.Reader, seed uint64) ([]byte, int64, error) {
		rnd := rand.New(rand.NewPCG(seed, 2))
		h := sha256.New()
		buf := make([]byte, 5*channelMaxPacket)
		var n int64
		for {
			k, err := r.Read(buf[:1+rnd.IntN(len(buf))])
			h.Write(buf[:k])
			n += int64(k)
			if err == io.EOF {
				return h.Sum(nil), n, nil
			} else if err != nil {
				return nil, n, err
			}
		}
	}
	var errSum []byte
	var errN int64
	var errErr error
	done := make(chan struct{})
	go func() { errSum, errN, errErr = read(stderr, 4); close(done) }()
	outSum, outN, err := read(stdout, 3)
	<-done
	if err != nil || errErr != nil {
		t.Fatal(err, errErr)
	}
	if err := session.Wait(); err != nil {
		t.Fatal(err)
	}
	if outN != outBytes || errN != errBytes {
		t.Fatalf("read %d and %d bytes, want %d and %d", outN, errN, outBytes, errBytes)
	}
	if !bytes.Equal(outSum, sums[0]) || !bytes.Equal(errSum, sums[1]) {
		t.Fatal("the data read differs from the data sent")
	}
}

func TestPooledBaseTellsPoolBuffers(t *testing.T) {
	bp := packetPool.Get().(*[]byte)
	if b := pooledBase((*bp)[1:100]); b == nil || &(*b)[0] != &(*bp)[0] || len(*b) != pooledCap {
		t.Fatal("a packet from the pool is not recognised")
	}
	fresh := make([]byte, pooledCap-1, notPooledCap(pooledCap-1))
	if pooledBase(fresh) != nil || pooledBase(make([]byte, 10)) != nil {
		t.Fatal("a packet not from the pool is taken for one")
	}
}

// TestSmallPacketsLeaveThePool reads a small and a full data packet
// through a GCM connection state: the full one keeps its pool buffer, the
// small one is copied out, so that small packets waiting in a channel do
// not each hold a buffer of pooledCap bytes.
func TestSmallPacketsLeaveThePool(t *testing.T) {
	kr := &kexResult{Hash: crypto.SHA256}
	algs := DirectionAlgorithms{Cipher: CipherAES128GCM, compression: compressionNone}
	w, err := newPacketCipher(clientKeys, algs, kr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newPacketCipher(clientKeys, algs, kr)
	if err != nil {
		t.Fatal(err)
	}
	small := bytes.Repeat([]byte{msgChannelData, 7}, 50)
	full := bytes.Repeat([]byte{msgChannelData, 9}, channelMaxPacket/2)
	var wire bytes.Buffer
	for i, p := range [][]byte{small, full} {
		if err := w.writeCipherPacket(uint32(i), &wire, crand.Reader, p); err != nil {
			t.Fatal(err)
		}
	}
	cs := &connectionState{packetCipher: r}
	br := bufio.NewReader(&wire)
	got, err := cs.readPacket(br, false)
	if err != nil || !bytes.Equal(got, small) || pooledBase(got) != nil || cap(got) != len(small) {
		t.Fatalf("small packet: err %v, equal %v, pooled %v, cap %d", err, bytes.Equal(got, small), pooledBase(got) != nil, cap(got))
	}
	got, err = cs.readPacket(br, false)
	if err != nil || !bytes.Equal(got, full) || pooledBase(got) == nil {
		t.Fatalf("full packet: err %v, equal %v, pooled %v", err, bytes.Equal(got, full), pooledBase(got) != nil)
	}
}
