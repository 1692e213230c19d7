package store

// StreamConn tells which of s's connections stream f runs on, and how many
// of them are open (for tests).
func StreamConn(s *SFTP, f FileStream) (conn, open int) {
	conn = -1
	for i, c := range s.conns {
		if c == f.(*tarStream).c {
			conn = i
		}
		c.mu.Lock()
		if c.sc != nil {
			open++
		}
		c.mu.Unlock()
	}
	return conn, open
}
