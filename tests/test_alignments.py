import pysam
import pytest

from biomarkers.errors import InputError
from biomarkers.genomics import check_contigs, open_alignments, open_reference, read_group_samples


def _write_bam(path, contigs=(("chr1", 1000),), sort_order="coordinate", n=5):
    header = {"HD": {"VN": "1.6", "SO": sort_order}, "SQ": [{"SN": c, "LN": n_} for c, n_ in contigs],
              "RG": [{"ID": "rg1", "SM": "TUMOUR1"}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i in range(n):
            seg = pysam.AlignedSegment(out.header)
            seg.query_name = f"r{i}"
            seg.reference_id = 0
            seg.reference_start = 10 * i
            seg.query_sequence = "A" * 20
            seg.query_qualities = pysam.qualitystring_to_array("I" * 20)
            seg.cigarstring = "20M"
            seg.mapping_quality = 60
            seg.set_tag("RG", "rg1")
            out.write(seg)
    return path


def test_unindexed_bam_is_indexed_when_folder_is_writable(tmp_path):
    bam = _write_bam(tmp_path / "t.bam")
    with open_alignments(bam) as handle:
        assert handle.count("chr1") == 5
        assert read_group_samples(handle) == ["TUMOUR1"]
    assert (tmp_path / "t.bam.bai").exists()


def test_unindexed_bam_in_readonly_folder_is_named(tmp_path, monkeypatch):
    bam = _write_bam(tmp_path / "t.bam")
    # tests run as root in CI, where chmod cannot make a folder read-only
    monkeypatch.setattr("biomarkers.genomics._alignments.os.access", lambda path, mode: False)
    with pytest.raises(InputError, match="no index and its folder is not writable"):
        open_alignments(bam)
    assert not (tmp_path / "t.bam.bai").exists()


def test_unsorted_and_cram_without_reference_are_refused(tmp_path):
    with pytest.raises(InputError, match="sorted by queryname"):
        open_alignments(_write_bam(tmp_path / "q.bam", sort_order="queryname"))
    cram = tmp_path / "x.cram"
    cram.write_bytes(b"CRAM\x03\x00" + b"\x00" * 30)
    with pytest.raises(InputError, match="CRAM needs its reference"):
        open_alignments(cram)


def test_contig_naming_mismatch_is_explained(tmp_path):
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">1\n" + "A" * 1000 + "\n")
    bam = _write_bam(tmp_path / "t.bam")
    with open_alignments(bam) as handle, open_reference(fasta) as ref:
        with pytest.raises(InputError, match="'chr' prefix"):
            check_contigs(handle, ref, file=bam)
    fasta.write_text(">chr1\n" + "A" * 999 + "\n")
    (tmp_path / "ref.fa.fai").unlink()
    with open_alignments(bam) as handle, open_reference(fasta) as ref:
        with pytest.raises(InputError, match="1,000 bp in the alignments but 999 bp"):
            check_contigs(handle, ref, file=bam)


def test_plain_gzip_reference_is_refused(tmp_path):
    import gzip

    path = tmp_path / "ref.fa.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(">chr1\nACGT\n")
    with pytest.raises(InputError, match="not bgzip"):
        open_reference(path)


def test_real_hcc1954_pair_matches_its_reference(real_data):
    bam = real_data("bam/hcc1954_tumor.COST16011_region.bam")
    with open_alignments(bam) as handle, open_reference(real_data("ref/grch37_COST16011_region.fa.gz")) as ref:
        check_contigs(handle, ref, file=bam)
        assert {"8", "11"} <= set(handle.references)
