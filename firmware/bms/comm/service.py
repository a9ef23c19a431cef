# Service layer: the request -> application mapping. Frames in (bms.comm.protocol), the application (bms.core.app)
# acts, replies out. The board layer (bms.hal) moves the bytes.
from bms.comm import protocol as pr
from bms.compat import isfinite


def publish(bms, seq, send):
    """The frames one sample produces: its EVENTs, then the ESTIMATE (answering a SAMPLE, or unasked on a pack
    that samples itself: bms.hal.pack)."""
    for e in bms.events:
        send(pr.EVENT, seq, pr.pack_event(e[0], e[1], e[2], e[3], e[4]))
        bms.stats[9] += 1
    send(pr.ESTIMATE, seq, bms.estimate_payload())


def handle_frame(bms, msg_type, seq, payload, send):
    """Act on one valid frame; send(type, seq, payload) emits replies. Never raises on payload content."""
    st = bms.stats
    if msg_type == pr.SAMPLE:
        try:
            t_ms, i_a, v_cell, t_c = pr.unpack_sample(payload)
            bms.on_sample(t_ms, i_a, v_cell, t_c)
        except ValueError as e:
            st[6] += 1
            send(pr.NACK, seq, pr.pack_nack(msg_type, pr.NACK_BAD_PAYLOAD, str(e)))
            return
        publish(bms, seq, send)
    elif msg_type == pr.HELLO:
        from bms import VERSION

        send(pr.HELLO_REPLY, seq, bytes((bms.n_cells,)) + (VERSION + ";" + bms.preset).encode())
    elif msg_type == pr.STATS_REQUEST:
        send(pr.STATS, seq, pr.pack_stats(st))
    elif msg_type == pr.CONFIG:
        try:
            n, soc0, preset = pr.unpack_config(payload)
            bms.configure(n, preset, soc0 if isfinite(soc0) else None)
        except (ValueError, KeyError) as e:
            st[6] += 1
            send(pr.NACK, seq, pr.pack_nack(msg_type, pr.NACK_BAD_CONFIG, str(e)))
            return
        send(pr.ACK, seq, bytes((msg_type,)))
    elif msg_type == pr.REPL:
        send(pr.ACK, seq, bytes((msg_type,)))  # serve() returns after this
    else:
        st[5] += 1
        send(pr.NACK, seq, pr.pack_nack(msg_type, pr.NACK_UNKNOWN_TYPE, ""))


def serve(bms, read_byte, write):
    """The main loop: bytes in, frames out, until read_byte() returns -1 (end of stream) or a REPL frame.

    read_byte() -> int 0..255, None when nothing arrived in a while (housekeeping chance), -1 at end.
    Nothing a host sends can raise out of here: a frame that breaks the handler is NACKed and counted.
    A SAMPLE that arrives again with the seq just answered is a retransmission (the host missed or
    distrusted the reply): it gets the same replies again instead of being processed twice.
    """
    reader = pr.FrameReader(bms.stats)
    replies = []  # frames answering the last SAMPLE
    last_sample_seq = -1

    def send(msg_type, seq, payload):
        frame = pr.encode_frame(msg_type, seq, payload)
        replies.append(frame)
        write(frame)

    while True:
        b = read_byte()
        if b is None:
            continue
        if b < 0:
            return
        m = reader.feed_byte(b)
        if m:
            f = reader.frame
            msg_type = f[1]
            seq = f[2]
            if msg_type == pr.SAMPLE and seq == last_sample_seq:
                for frame in replies:
                    write(frame)
                continue
            del replies[:]
            last_sample_seq = seq if msg_type == pr.SAMPLE else -1
            try:
                handle_frame(bms, msg_type, seq, bytes(f[3 : m - 2]), send)
            except Exception as e:  # last line of defence: a firmware bug must not stop the board
                bms.stats[6] += 1
                send(pr.NACK, seq, pr.pack_nack(msg_type, pr.NACK_BAD_PAYLOAD, "internal: " + repr(e)))
            reader.stats = bms.stats  # configure() keeps the same list; stay bound to it
            if msg_type == pr.REPL:
                return
        elif b == 0 and reader.last_error:
            write(pr.encode_frame(pr.NACK, 0, pr.pack_nack(0, reader.last_error, "")))
            reader.last_error = 0
