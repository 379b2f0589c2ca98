//go:build !linux

package dns

import "net"

// answerBatch reads a socket's answers one per read, into a buffer of
// the largest message.
type answerBatch struct {
	conn *net.UDPConn
	buf  *[]byte
}

func newAnswerBatch(conn *net.UDPConn) (*answerBatch, error) {
	return &answerBatch{conn: conn, buf: readBufs.Get().(*[]byte)}, nil
}

// read waits for an answer and calls each with it (valid only during the
// call; never cut).
func (b *answerBatch) read(each func(pkt []byte, cut bool)) error {
	n, err := b.conn.Read(*b.buf)
	if err != nil {
		return err
	}
	each((*b.buf)[:n], false)
	return nil
}

func (b *answerBatch) close() { readBufs.Put(b.buf) }
