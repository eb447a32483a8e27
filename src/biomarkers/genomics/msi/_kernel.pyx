# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The MSI caller's read loop, compiled: `_reads._count_region`'s rules on htslib's records.

The Python loop pays for an AlignedSegment object, a decoded sequence string and
half a dozen property look-ups per read (about 1.5-2 µs a read). Here the records
are read with pysam's region iterator without making Python objects (its `cnext`),
and flags, positions, CIGAR and the 4-bit packed sequence are read from the
`bam1_t` itself; the site strings are packed the same way once per contig, so a
site is matched by comparing small integers. Only the per-site counts (dicts, the
API of `count_lengths`) and the fragment names of paired reads are Python objects.

`_reads.py` keeps the same rules in Python: it is the reference the tests compare
this kernel with, and the path used when the extension is not built.
"""

from cpython.bytes cimport PyBytes_FromString
from libc.stdint cimport int64_t, uint8_t, uint32_t
from libc.stdlib cimport free, malloc
from pysam.libcalignmentfile cimport IteratorRowRegion
from pysam.libchtslib cimport bam1_t, bam_get_cigar, bam_get_qname, bam_get_seq, bam_seqi

cdef int SKIP_FLAGS = 0x4 | 0x100 | 0x200 | 0x400 | 0x800  # unmapped, secondary, QC fail, duplicate, supplementary
cdef int MAX_FLANK_SHIFT = 8  # how far from the CIGAR's position a displaced left flank is looked for (as _reads)
cdef uint8_t NO_BASE = 255  # a site letter htslib's alphabet does not have: never equal to a read base

# htslib's 4-bit codes: the index of a letter in "=ACMGRSVTWYHKDBN" (what bam_seqi returns)
cdef bytes NT16 = b"=ACMGRSVTWYHKDBN"


cdef class Sites:
    """The sites of one contig, sorted by start, packed for the loop (the Python side builds it once per contig)."""

    cdef int n
    cdef int64_t *starts
    cdef int64_t *lows
    cdef int64_t *highs
    cdef int *flank_len
    cdef int *right_len
    cdef int *tract_len
    cdef int *unit_len
    cdef int *looked
    cdef uint8_t **left
    cdef uint8_t **right
    cdef uint8_t **tract
    cdef uint8_t **unit
    cdef list counts
    cdef list _keep  # the packed strings' owners

    def __cinit__(self, starts, ends, units, lefts, rights, counts):
        n = self.n = len(starts)
        self.counts = counts
        self._keep = []
        self.starts = <int64_t *> malloc(n * sizeof(int64_t))
        self.lows = <int64_t *> malloc(n * sizeof(int64_t))
        self.highs = <int64_t *> malloc(n * sizeof(int64_t))
        self.flank_len = <int *> malloc(n * sizeof(int))
        self.right_len = <int *> malloc(n * sizeof(int))
        self.tract_len = <int *> malloc(n * sizeof(int))
        self.unit_len = <int *> malloc(n * sizeof(int))
        self.looked = <int *> malloc(n * sizeof(int))
        self.left = <uint8_t **> malloc(n * sizeof(uint8_t *))
        self.right = <uint8_t **> malloc(n * sizeof(uint8_t *))
        self.tract = <uint8_t **> malloc(n * sizeof(uint8_t *))
        self.unit = <uint8_t **> malloc(n * sizeof(uint8_t *))
        if not (self.starts and self.lows and self.highs and self.flank_len and self.right_len and self.tract_len
                and self.unit_len and self.looked and self.left and self.right and self.tract and self.unit):
            raise MemoryError()
        cdef int i
        for i in range(n):
            unit = units[i]
            tract = unit * ((ends[i] - starts[i]) // len(unit))
            self.starts[i] = starts[i]
            self.flank_len[i] = len(lefts[i])
            self.right_len[i] = len(rights[i])
            self.tract_len[i] = len(tract)
            self.unit_len[i] = len(unit)
            self.lows[i] = starts[i] - len(lefts[i])
            self.highs[i] = ends[i] + len(lefts[i])
            self.looked[i] = 0
            self.left[i] = self._pack(lefts[i])
            self.right[i] = self._pack(rights[i])
            self.tract[i] = self._pack(tract)
            self.unit[i] = self._pack(unit)

    cdef uint8_t *_pack(self, str text):
        """``text`` as htslib's 4-bit base codes (one per byte); a letter outside its alphabet never matches."""
        cdef bytes raw = text.encode("ascii", "replace")
        packed = bytearray(len(raw))
        for k, letter in enumerate(raw):
            code = NT16.find(bytes((letter,)))
            packed[k] = NO_BASE if code < 0 else code
        owner = bytes(packed)
        self._keep.append(owner)
        return <uint8_t *> (<char *> owner)

    def __dealloc__(self):
        free(self.starts); free(self.lows); free(self.highs); free(self.flank_len); free(self.right_len)
        free(self.tract_len); free(self.unit_len); free(self.looked); free(self.left); free(self.right)
        free(self.tract); free(self.unit)


cdef inline bint has_at(uint8_t *seq, int lq, int pos, const uint8_t *text, int n) noexcept nogil:
    """``seq[pos:pos+n] == text`` (Python's ``str.startswith(text, pos)``, with pos >= 0)."""
    if pos < 0 or pos + n > lq:
        return False
    cdef int k
    for k in range(n):
        if bam_seqi(seq, pos + k) != text[k]:
            return False
    return True


cdef inline int run_end(uint8_t *seq, int lq, int begin, const uint8_t *unit, int unit_len) noexcept nogil:
    """End of the longest run of the unit (whole units, then a partial one) from ``begin``."""
    cdef int k = begin
    while k < lq and bam_seqi(seq, k) == unit[(k - begin) % unit_len]:
        k += 1
    return k


cdef inline int query_pos(uint32_t *cigar, int n_cigar, int64_t ref_start, int64_t target) noexcept nogil:
    """Query offset aligned to reference position ``target``; -1 when it is deleted or not covered."""
    cdef int64_t r = ref_start
    cdef int q = 0, k, op, n
    for k in range(n_cigar):
        op = cigar[k] & 0xF
        n = cigar[k] >> 4
        if op == 0 or op == 7 or op == 8:  # M = X
            if r + n > target:
                return q + <int> (target - r) if target >= r else -1
            r += n
            q += n
        elif op == 1 or op == 4:  # I S
            q += n
        elif op == 2 or op == 3:  # D N
            if r + n > target:
                return -1
            r += n
    return -1


cdef int site_length(bam1_t *b, uint8_t *seq, int lq, int begin, Sites s, int i) noexcept nogil:
    """Repeat length in bases between the flanks of site ``i`` in the read; -1 when the read does not show it."""
    cdef int flank = s.flank_len[i], tract = s.tract_len[i], right = s.right_len[i]
    cdef int end, q_left, found, lo, hi, e
    if begin >= flank and has_at(seq, lq, begin - flank, s.left[i], flank):
        if has_at(seq, lq, begin, s.tract[i], tract) and has_at(seq, lq, begin + tract, s.right[i], right):
            return tract  # the reference length (most reads)
        end = run_end(seq, lq, begin, s.unit[i], s.unit_len[i])
        if has_at(seq, lq, end, s.right[i], right):
            return end - begin
    else:
        # an indel before the repeat, or one the aligner moved into the flank: place it by the CIGAR, then look nearby
        q_left = query_pos(bam_get_cigar(b), b.core.n_cigar, b.core.pos, s.starts[i] - 1)
        if q_left < 0:
            return -1
        if not has_at(seq, lq, q_left - flank + 1, s.left[i], flank):
            lo = q_left - flank + 1 - MAX_FLANK_SHIFT
            if lo < 0:
                lo = 0
            hi = q_left + 1 + MAX_FLANK_SHIFT  # the flank must end before hi (str.find's end)
            if hi > lq:
                hi = lq
            found = -1
            while lo + flank <= hi:
                if has_at(seq, lq, lo, s.left[i], flank):
                    found = lo
                    break
                lo += 1
            if found < 0:
                return -1
            q_left = found + flank - 1
        begin = q_left + 1
    end = run_end(seq, lq, begin, s.unit[i], s.unit_len[i])
    if has_at(seq, lq, end, s.right[i], right):
        return end - begin
    # the repeat-like prefix may run into the right flank (a flank can read like the unit out of phase)
    for e in range(end - 1, begin - 1, -1):
        if has_at(seq, lq, e, s.right[i], right):
            return e - begin
    return -1


cdef inline int64_t reference_end(bam1_t *b) noexcept nogil:
    """One past the last reference base (htslib's bam_endpos for a mapped read with a CIGAR)."""
    cdef uint32_t *cigar = bam_get_cigar(b)
    cdef int64_t end = b.core.pos
    cdef int k, op
    for k in range(b.core.n_cigar):
        op = cigar[k] & 0xF
        if op == 0 or op == 2 or op == 3 or op == 7 or op == 8:  # M D N = X
            end += cigar[k] >> 4
    return end


cdef inline int clipped_start(bam1_t *b) noexcept nogil:
    """Soft-clipped bases before the aligned part (pysam's query_alignment_start)."""
    cdef uint32_t *cigar = bam_get_cigar(b)
    cdef int start = 0, k, op
    for k in range(b.core.n_cigar):
        op = cigar[k] & 0xF
        if op == 4:
            start += cigar[k] >> 4
        elif op != 5:
            break
    return start


def count_region(IteratorRowRegion reads, Sites s, int first, int last, int min_mapq, int max_reads):
    """Add the fragments of ``reads`` (a pysam region iterator, sorted by start) to sites ``first..last-1``."""
    cdef dict seen = {}
    cdef int i0 = first, i, flag, lq = 0, begin, length
    cdef int64_t r_start, r_end, shift = 0
    cdef bam1_t *b
    cdef uint8_t *seq = NULL
    cdef bint have_seq
    cdef dict site
    cdef set names
    while True:
        reads.cnext()
        if reads.retval < 0:
            if reads.retval == -1:
                return
            raise OSError("truncated file" if reads.retval == -2 else f"error {reads.retval} while reading file")
        b = reads.b
        flag = b.core.flag
        if flag & SKIP_FLAGS or b.core.qual < min_mapq or b.core.n_cigar == 0:
            continue
        r_start = b.core.pos
        while i0 < last and s.lows[i0] < r_start:  # reads come sorted by start: this site can get no more reads
            if seen:
                seen.pop(i0, None)
            i0 += 1
        if i0 == last:
            return
        r_end = reference_end(b)
        i = i0
        have_seq = False
        while i < last and s.highs[i] <= r_end:  # the read anchors both flanks of site i
            if s.looked[i] < max_reads:
                name = None
                names = None
                if flag & 1:  # paired: its mate may span the site too and must not count again
                    name = PyBytes_FromString(bam_get_qname(b))
                    names = seen.get(i)
                    if names is not None and name in names:
                        i += 1
                        continue
                s.looked[i] += 1
                if not have_seq:
                    have_seq = True
                    seq = bam_get_seq(b)
                    lq = b.core.l_qseq
                    shift = clipped_start(b) - r_start
                begin = <int> (s.starts[i] + shift)
                length = site_length(b, seq, lq, begin, s, i) if lq > 0 else -1
                if length >= 0:
                    if name is not None:
                        if names is None:
                            names = seen[i] = set()
                        names.add(name)
                    site = s.counts[i]
                    site[length] = site.get(length, 0) + 1
            i += 1


cdef extern from *:
    const char *BIOMARKERS_PYSAM_VERSION  # setup.py: the pysam this was compiled against

BUILT_WITH_PYSAM = BIOMARKERS_PYSAM_VERSION.decode()
