# Service layer: the request -> application mapping. Frames in (bms.comm.protocol), the application (bms.core.app)
# acts, replies out. The board layer (bms.hal) moves the bytes.
# Reads (HELLO, SAMPLE, STATS) are open; what changes safety (CONFIG, CLEAR_FAULT, TO_REPL) needs a valid tag
# (bms.comm.auth). A CONFIG's document arrives in CONFIG_CHUNK frames first, into a staging buffer.
import gc

from bms.comm import protocol as pr
from bms.comm.auth import AuthError
from bms.compat import ticks_diff, ticks_ms
from bms.config import free_modules as free_config_modules

MAX_DOC = 8192  # largest configuration document (a cell file) staged
REPL = "repl"  # serve() returns this after an authenticated TO_REPL (else None at end of stream)
# A reply that needs no allocation: sent when the handler itself runs out of memory (seq 0: the host resends)
_OOM_FRAME = pr.encode_frame(pr.NACK, 0, pr.pack_nack(0, pr.NACK_MEMORY, "out of memory"))


class Session:
    """What the link keeps between frames: the key and counter, the staged configuration document."""

    def __init__(self, auth=None):
        self.auth = auth
        self.doc = None  # bytearray being staged
        self.doc_n = 0
        self.repl = False
        self.last_signed = None  # the last accepted signed payload: the same again (its ACK was lost) is ACKed again

    def stage(self, payload):
        offset, total, data = pr.unpack_chunk(payload)
        if offset == 0:
            self.doc = None
            gc.collect()
            if total > MAX_DOC:
                raise ValueError("config: document of %d bytes beyond %d" % (total, MAX_DOC))
            self.doc = bytearray(total)
            self.doc_n = 0
        doc = self.doc
        if doc is None or total != len(doc):
            raise ValueError("config: chunk for a document not started (send offset 0 first)")
        if offset != self.doc_n or offset + len(data) > total:
            raise ValueError("config: chunk at %d, expected %d" % (offset, self.doc_n))
        doc[offset : offset + len(data)] = data
        self.doc_n += len(data)

    def check(self, msg_type, payload, extra=b""):
        if self.auth is None:
            raise AuthError("auth: no key on this board (nabms flash provisions one)")
        return self.auth.check(pr.VERSION, msg_type, payload, extra)


def _config(bms, session, payload):
    doc = session.doc
    if doc is None or session.doc_n != len(doc):
        raise ValueError("config: no complete document staged")
    # transport first (a damaged chunk is named as such), then the tag over the body and the document
    n, soc0, soc0_sigma, doc_len, crc = pr.unpack_config(payload[4 : len(payload) - pr.TAG_LEN])
    if doc_len != len(doc) or crc != pr.crc32(doc):
        raise ValueError("config: document crc or length does not match; resend the chunks")
    session.check(pr.CONFIG, payload, doc)
    bms.persist()  # the counter moved: a reset must not reopen it to replay
    session.doc = None
    # NaN on the wire means "not given"; any other value, inf included, is checked (and refused) by configure
    bms.configure(n, bytes(doc), soc0 if soc0 == soc0 else None, None, soc0_sigma if soc0_sigma == soc0_sigma else None)
    free_config_modules()  # the parsers and presets, until the next CONFIG: heap a 16-cell string needs


def publish(bms, seq, send):
    """The frames one sample produces: its EVENTs, then the ESTIMATE (answering a SAMPLE, or unasked on a pack
    that samples itself: bms.hal.pack)."""
    for e in bms.events:
        send(pr.EVENT, seq, pr.pack_event(e[0], e[1], e[2], e[3], e[4]))
        bms.stats[9] += 1
    send(pr.ESTIMATE, seq, bms.estimate_payload())


def handle_frame(bms, msg_type, seq, payload, send, session=None):
    """Act on one valid frame; send(type, seq, payload) emits replies. Never raises on payload content."""
    st = bms.stats
    if session is None:
        session = Session()
    if msg_type == pr.SAMPLE:
        try:
            t_ms, i_a, v_cell, t_c = pr.unpack_sample(payload)
        except ValueError as e:
            st[6] += 1
            send(pr.NACK, seq, pr.pack_nack(msg_type, pr.NACK_BAD_PAYLOAD, str(e)))
            return
        bms.on_sample(t_ms, i_a, v_cell, t_c)
        publish(bms, seq, send)
    elif msg_type == pr.HELLO:
        from bms import VERSION

        a = session.auth
        send(pr.HELLO_REPLY, seq, pr.pack_hello(bms.n_cells, bms.state, bms.config_version, a.counter if a else 0,
                                                a.key_id if a else b"\0\0\0\0", VERSION + ";" + bms.preset))
    elif msg_type == pr.STATS_REQUEST:
        send(pr.STATS, seq, pr.pack_stats(st))
    elif msg_type == pr.CONFIG_CHUNK or msg_type == pr.CONFIG or msg_type == pr.CLEAR_FAULT or msg_type == pr.TO_REPL:
        if msg_type != pr.CONFIG_CHUNK and payload == session.last_signed:
            send(pr.ACK, seq, bytes((msg_type,)))  # a resend after a lost ACK: done already, not done twice
            return
        try:
            if msg_type == pr.CONFIG_CHUNK:
                session.stage(payload)
            elif msg_type == pr.CONFIG:
                _config(bms, session, payload)
            elif msg_type == pr.TO_REPL and session.auth is None:
                session.repl = True  # a board with no key guards nothing a reset to its REPL would not reach
            else:
                session.check(msg_type, payload)
                bms.persist()
                if msg_type == pr.CLEAR_FAULT:
                    bms.clear_fault()
                else:
                    session.repl = True
        except AuthError as e:
            st[pr.STAT_AUTH_REJECTED] += 1
            send(pr.NACK, seq, pr.pack_nack(msg_type, pr.NACK_AUTH, str(e)))
            return
        except (ValueError, KeyError, TypeError) as e:
            st[6] += 1
            code = pr.NACK_STATE if msg_type == pr.CLEAR_FAULT else pr.NACK_BAD_CONFIG
            send(pr.NACK, seq, pr.pack_nack(msg_type, code, str(e)))
            return
        if msg_type != pr.CONFIG_CHUNK:
            session.last_signed = payload
        send(pr.ACK, seq, bytes((msg_type,)))
    else:
        st[5] += 1
        send(pr.NACK, seq, pr.pack_nack(msg_type, pr.NACK_UNKNOWN_TYPE, ""))


def _link_timeout(bms, write):
    try:
        bms.link_timeout()
        for e in bms.events:
            write(pr.encode_frame(pr.EVENT, 0, pr.pack_event(e[0], e[1], e[2], e[3], e[4])))
    except MemoryError:
        gc.collect()


def _dispatch(bms, msg_type, seq, payload, send, write, session, replies):
    try:
        handle_frame(bms, msg_type, seq, payload, send, session)
    except MemoryError:
        del replies[:]
        gc.collect()
        bms.stats[pr.STAT_MEM_ERRORS] += 1
        write(_OOM_FRAME)
    except Exception as e:  # last line of defence: a firmware bug must not stop the board
        bms.stats[6] += 1
        try:
            send(pr.NACK, seq, pr.pack_nack(msg_type, pr.NACK_BAD_PAYLOAD, "internal: " + repr(e)))
        except MemoryError:
            gc.collect()
            write(_OOM_FRAME)


def _answer_dropped(reader, write):
    code = reader.last_error
    reader.last_error = 0
    if code == pr.NACK_BAD_VERSION and 1 <= reader.bad_version < pr.VERSION:
        # an old host: answer in its own version, so it can read why
        detail = "firmware speaks protocol v%d; update the host" % pr.VERSION
        write(pr.encode_frame(pr.NACK, reader.bad_seq, pr.pack_nack(reader.bad_type, code, detail), reader.bad_version))
    else:
        write(pr.encode_frame(pr.NACK, 0, pr.pack_nack(0, code, "")))


def serve(bms, read_byte, write, session=None, wdt=None, clock=ticks_ms):
    """The main loop: bytes in, frames out, until read_byte() returns -1 (end of stream; returns None) or an
    authenticated TO_REPL (returns REPL).

    read_byte() -> int 0..255, None when nothing arrived in a while (housekeeping chance), -1 at end.
    Nothing a host sends can raise out of here: a frame that breaks the handler is NACKed and counted, a
    MemoryError in the handler gets a preallocated NACK. A SAMPLE that arrives again with the seq just answered
    is a retransmission: it gets the same replies again instead of being processed twice. No SAMPLE for the
    settings' timeout_ms (once samples have started) switches both paths off (bms.core.app.Bms.link_timeout).
    wdt: a machine.WDT (fed every pass; read_byte returns within its idle time).
    """
    if session is None:
        session = Session()
    reader = pr.FrameReader(bms.stats)
    replies = []  # frames answering the last SAMPLE
    last_sample_seq = -1
    last_sample_tick = None
    timed_out = False

    def send(msg_type, seq, payload):
        frame = pr.encode_frame(msg_type, seq, payload)
        replies.append(frame)
        write(frame)

    while True:
        if wdt is not None:
            wdt.feed()
        b = read_byte()
        if last_sample_tick is not None and not timed_out and ticks_diff(clock(), last_sample_tick) > bms.settings["timeout_ms"]:
            timed_out = True
            _link_timeout(bms, write)
        if b is None:
            continue
        if b < 0:
            bms.persist()
            return None
        m = reader.feed_byte(b)
        if m:
            f = reader.frame
            msg_type = f[1]
            seq = f[2]
            if msg_type == pr.SAMPLE:
                last_sample_tick = clock()
                timed_out = False
                if seq == last_sample_seq:
                    for frame in replies:
                        write(frame)
                    continue
            del replies[:]
            last_sample_seq = seq if msg_type == pr.SAMPLE else -1
            _dispatch(bms, msg_type, seq, bytes(f[3 : m - 2]), send, write, session, replies)
            reader.stats = bms.stats  # configure() keeps the same list; stay bound to it
            if session.repl:
                bms.persist()
                return REPL
        elif b == 0 and reader.last_error:
            _answer_dropped(reader, write)
