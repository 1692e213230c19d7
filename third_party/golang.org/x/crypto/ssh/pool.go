// Copyright 2026 The cutover Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package ssh

// cutover: the upstream package allocates every packet it reads afresh
// (connectionState.readPacket copies it out of the cipher's buffer), which
// for a bulk download is one allocation and one copy per 32 KiB: 1.8 of
// the 2.06 GB a full copy of cutover's benchmark tree allocated, and 70
// collections. Here the GCM cipher reads each packet that fits into a
// buffer of packetPool, readPacket hands that buffer on without a copy,
// and a channel's buffer puts it back once Read has taken all of its data.
// Packets that are not channel data are never put back: the garbage
// collector takes them, as upstream, since messages unmarshalled from them
// may alias their bytes.

import (
	"sync"
	"unsafe"
)

// pooledCap is the size of packetPool's buffers: a channel data packet of
// channelMaxPacket bytes of payload with its headers, padding and tag.
const pooledCap = 36 << 10

var packetPool = sync.Pool{New: func() any { b := make([]byte, pooledCap); return &b }}

// keepPooled is the smallest packet that readPacket hands on in its pool
// buffer. A smaller one is copied out, as upstream does, and its buffer
// put back: a channel's window counts the data its buffer holds, not the
// buffers, and 2 MiB of 100-byte packets (a remote b3sum's lines, read
// less quickly than they came) held 20,000 buffers of 36 KiB, 700 MB.
// Half a buffer bounds the memory to twice the data.
const keepPooled = pooledCap / 2

// pooledBase returns the packetPool buffer holding packet, or nil. A
// packet from the pool is the GCM cipher's plaintext without its padding
// length byte: it starts at offset 1 of its buffer, so its capacity is
// pooledCap-1, which no other packet has (notPooledCap).
func pooledBase(packet []byte) *[]byte {
	if cap(packet) != pooledCap-1 {
		return nil
	}
	b := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(packet)), -1)), pooledCap)
	return &b
}

// notPooledCap is the capacity to give a packet of n bytes not from the
// pool, so that pooledBase does not take it for one.
func notPooledCap(n int) int {
	if n == pooledCap-1 {
		return n + 1
	}
	return n
}
