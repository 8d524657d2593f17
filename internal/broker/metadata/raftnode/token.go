package raftnode

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// tokenFile holds the cluster token that the transport handshake carries. It
// lives next to raft.db because raftstore has no key for it (see the package
// doc); it is written once, before raft saves anything, and read on restart.
const tokenFile = "raft-cluster-token"

// maxTokenLen is the transport's limit on the handshake cluster id.
const maxTokenLen = 255

// deriveToken computes the handshake token of a new cluster from its founding
// voters. Every founder is started with the same --peers, so every founder
// derives the same token without talking to the others, and a node started
// with a different member list cannot join by accident.
func deriveToken(peers map[uint64]string) string {
	ids := make([]uint64, 0, len(peers))
	for id := range peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%d=%s\n", id, peers[id])
	}
	return "chronik-" + hex.EncodeToString(h.Sum(nil)[:12])
}

// readToken returns the stored token; ok is false when there is none.
func readToken(dir string) (token string, ok bool, err error) {
	path := filepath.Join(dir, tokenFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read cluster token: %w", err)
	}
	token = strings.TrimSpace(string(b))
	if token == "" || len(token) > maxTokenLen {
		return "", false, fmt.Errorf("cluster token in %s: %d bytes, want 1 to %d", path, len(token), maxTokenLen)
	}
	return token, true, nil
}

// writeToken stores the token durably: temp file, fsync, rename, fsync of the
// directory, so a crash leaves either the old file or the new one.
func writeToken(dir, token string) error {
	path := filepath.Join(dir, tokenFile)
	tmp, err := os.CreateTemp(dir, tokenFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("write cluster token: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write cluster token %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sync cluster token %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close cluster token %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("install cluster token %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
