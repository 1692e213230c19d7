// Package checksum computes content hashes while data streams, so a copy
// never reads its source twice, and names the algorithm with every hash so
// that hashes of different algorithms are never compared by mistake.
//
// File content is hashed with XXH3-128 (the manifest records "xxh3-128";
// manifests written with "blake3" are still read and checked with it);
// `files verify` uses BLAKE3 where no remote side lacks b3sum, else
// SHA-256, which a remote host computes with its own openssl or sha256sum.
// Table chunk checksums and Lucene footers live in their own packages.
package checksum
