"""The artifact-repository contract over local directories and a real S3 server (SeaweedFS),
plus what only a local directory has (file modes, temp files, symbolic links).

Tests taking ``any_repo`` run once per backend: ``local`` (a temp directory) and ``s3``
(a fresh bucket on the session's SeaweedFS, tests/s3_support.py; it fails in CI when
SeaweedFS cannot start)."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from s3_support import S3Server
from s3_support import s3_server_fixture as s3_server  # noqa: F401  (fixture)

from jupyter_mltrack import artifacts
from jupyter_mltrack.artifacts import (
    ArtifactRepository,
    LocalArtifactRepository,
    S3ArtifactRepository,
    get_artifact_repository,
    register_artifact_repository,
)
from jupyter_mltrack.artifacts.s3 import PART_BYTES
from jupyter_mltrack.entities import FileInfo
from jupyter_mltrack.errors import ArtifactNotFound, InvalidParameter


@pytest.fixture
def repo(tmp_path: Path) -> LocalArtifactRepository:
    return LocalArtifactRepository(tmp_path / "artifacts")


@pytest.fixture(params=["local", "s3"])
def any_repo(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ArtifactRepository:
    """A repository of each kind, through the scheme registry as the server builds it."""
    if request.param == "local":
        return get_artifact_repository(str(tmp_path / "artifacts"))
    server: S3Server = request.getfixturevalue("s3_server")
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    repo = get_artifact_repository(server.new_prefix() + "/team/1/run/artifacts")
    assert isinstance(repo, S3ArtifactRepository)
    return repo


def _stored(repo: ArtifactRepository, tmp_path: Path) -> dict[str, bytes]:
    """Every stored file and its bytes, read back through the repository."""
    return _tree(Path(repo.download_artifacts(None, tmp_path / f"read-{uuid.uuid4().hex}")))


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# construction and the scheme registry


def test_all_names_exist() -> None:
    for name in artifacts.__all__:
        assert hasattr(artifacts, name), name


def test_local_repository_implements_the_protocol(repo: LocalArtifactRepository) -> None:
    assert isinstance(repo, ArtifactRepository)


def test_file_uri_and_plain_path_name_the_same_root(tmp_path: Path) -> None:
    by_path = LocalArtifactRepository(str(tmp_path / "a b"))
    by_uri = LocalArtifactRepository((tmp_path / "a b").as_uri())
    by_localhost = LocalArtifactRepository("file://localhost" + str(tmp_path / "a b"))
    assert by_path.root == by_uri.root == by_localhost.root == tmp_path / "a b"
    assert by_uri.artifact_uri == (tmp_path / "a b").as_uri()


def test_relative_root_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert LocalArtifactRepository("runs/1").root == tmp_path / "runs" / "1"


def test_file_uri_with_a_remote_host_is_rejected() -> None:
    with pytest.raises(InvalidParameter, match="names host 'server'"):
        LocalArtifactRepository("file://server/share/dir")


@pytest.mark.parametrize("uri", ["", None])
def test_empty_uri_is_rejected(uri: str | None) -> None:
    with pytest.raises(InvalidParameter, match="empty"):
        get_artifact_repository(uri)  # type: ignore[arg-type]


def test_registry_picks_local_for_file_uris_and_paths(tmp_path: Path) -> None:
    for uri in [tmp_path.as_uri(), str(tmp_path), "FILE://" + str(tmp_path)]:
        repo = get_artifact_repository(uri)
        assert isinstance(repo, LocalArtifactRepository)
        assert repo.root == tmp_path


def test_registry_treats_a_drive_letter_as_a_local_path() -> None:
    assert isinstance(get_artifact_repository("C:\\runs\\1"), LocalArtifactRepository)


def test_unknown_scheme_names_the_supported_ones() -> None:
    with pytest.raises(InvalidParameter) as info:
        get_artifact_repository("gs://bucket/run")
    assert "gs://" in str(info.value)
    assert "file://" in str(info.value)
    assert "plain local paths" in str(info.value)
    assert info.value.details == {"scheme": "gs"}


def test_registered_scheme_is_used(tmp_path: Path) -> None:
    def factory(uri: str) -> ArtifactRepository:
        return LocalArtifactRepository(tmp_path / uri.removeprefix("mem://"))

    register_artifact_repository("MEM", factory)
    try:
        repo = get_artifact_repository("mem://run1")
        assert isinstance(repo, LocalArtifactRepository)
        assert repo.root == tmp_path / "run1"
    finally:
        artifacts._REPOSITORIES.pop("mem")


# round trips


def test_write_list_download_round_trip(any_repo: ArtifactRepository, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 10
    any_repo.write_bytes("nested/dir/data.bin", payload)
    any_repo.write_bytes("top.txt", b"top")

    assert any_repo.list_artifacts() == [
        FileInfo("nested", True, None),
        FileInfo("top.txt", False, 3),
    ]
    assert any_repo.list_artifacts("nested/") == [FileInfo("nested/dir", True, None)]
    assert any_repo.list_artifacts("nested/dir") == [
        FileInfo("nested/dir/data.bin", False, len(payload))
    ]

    local = any_repo.download_artifacts("nested/dir/data.bin", tmp_path / "out")
    assert local == str(tmp_path / "out" / "nested" / "dir" / "data.bin")
    assert Path(local).read_bytes() == payload


def test_download_without_destination_uses_a_new_temp_dir(any_repo: ArtifactRepository) -> None:
    any_repo.write_bytes("a.txt", b"a")
    first, second = any_repo.download_artifacts("a.txt"), any_repo.download_artifacts("a.txt")
    assert first != second
    assert Path(first).read_bytes() == Path(second).read_bytes() == b"a"


def test_write_bytes_replaces_and_leaves_no_temp_files(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("a.txt", b"old")
    repo.write_bytes("a.txt", b"new")
    assert (repo.root / "a.txt").read_bytes() == b"new"
    assert [p.name for p in repo.root.iterdir()] == ["a.txt"]


def test_written_files_get_the_umask_mode(repo: LocalArtifactRepository) -> None:
    umask = os.umask(0o022)
    try:
        repo.write_bytes("a.txt", b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((repo.root / "a.txt").stat().st_mode) == 0o644


def test_failed_write_keeps_the_old_file(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("a.txt", b"old")
    with pytest.raises(TypeError):
        repo.write_bytes("a.txt", "not bytes")  # type: ignore[arg-type]
    assert (repo.root / "a.txt").read_bytes() == b"old"
    assert [p.name for p in repo.root.iterdir()] == ["a.txt"]


def test_list_hides_in_flight_temp_files(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("a.txt", b"x")
    (repo.root / ".mltrack-tmp-123").write_bytes(b"partial")
    assert [f.path for f in repo.list_artifacts()] == ["a.txt"]


def test_log_artifact_copies_one_file(any_repo: ArtifactRepository, tmp_path: Path) -> None:
    source = tmp_path / "model.pkl"
    source.write_bytes(b"\x80\x04model")
    any_repo.log_artifact(source)
    any_repo.log_artifact(str(source), "models/v1")
    assert _stored(any_repo, tmp_path) == {
        "model.pkl": b"\x80\x04model",
        "models/v1/model.pkl": b"\x80\x04model",
    }


def test_log_artifact_rejects_missing_files_and_directories(
    any_repo: ArtifactRepository, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameter, match="not an existing file; check the path"):
        any_repo.log_artifact(tmp_path / "missing.txt")
    with pytest.raises(InvalidParameter, match="use log_artifacts for a directory"):
        any_repo.log_artifact(tmp_path)


def test_log_artifacts_copies_a_tree_and_downloads_it_back(
    any_repo: ArtifactRepository, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    (source / "sub" / "deeper").mkdir(parents=True)
    (source / "a.txt").write_bytes(b"a")
    (source / "sub" / "b.txt").write_bytes(b"b")
    (source / "sub" / "deeper" / "c.bin").write_bytes(b"\x00c")

    any_repo.log_artifacts(source, "bundle")

    assert any_repo.list_artifacts("bundle") == [
        FileInfo("bundle/a.txt", False, 1),
        FileInfo("bundle/sub", True, None),
    ]
    local = any_repo.download_artifacts("bundle", tmp_path / "dl")
    assert local == str(tmp_path / "dl" / "bundle")
    assert _tree(Path(local)) == _tree(source)


def test_log_artifacts_at_root_and_download_everything(
    any_repo: ArtifactRepository, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "b.txt").write_bytes(b"b")
    any_repo.log_artifacts(source)
    local = any_repo.download_artifacts(None, tmp_path / "all")
    assert local == str(tmp_path / "all")
    assert _tree(Path(local)) == {"sub/b.txt": b"b"}


def test_log_artifacts_rejects_a_file(any_repo: ArtifactRepository, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"x")
    with pytest.raises(InvalidParameter, match="use log_artifact for a single file"):
        any_repo.log_artifacts(tmp_path / "f.txt")


def test_list_of_a_missing_path_or_a_file_is_empty(any_repo: ArtifactRepository) -> None:
    assert any_repo.list_artifacts() == []
    any_repo.write_bytes("a.txt", b"x")
    assert any_repo.list_artifacts("a.txt") == []
    assert any_repo.list_artifacts("nope") == []


def test_download_of_a_missing_path_raises_not_found(any_repo: ArtifactRepository) -> None:
    with pytest.raises(ArtifactNotFound, match=r"No artifact at 'nope'.*list_artifacts"):
        any_repo.download_artifacts("nope")


def test_delete_file_directory_and_everything(any_repo: ArtifactRepository) -> None:
    for name in ["a.txt", "d/b.txt", "d/e/c.txt", "keep.txt"]:
        any_repo.write_bytes(name, b"x")
    any_repo.delete_artifacts("a.txt")
    any_repo.delete_artifacts("d")
    assert [f.path for f in any_repo.list_artifacts()] == ["keep.txt"]
    any_repo.delete_artifacts("missing/path")  # a no-op, so clean-up can be retried
    any_repo.delete_artifacts()
    assert any_repo.list_artifacts() == []


def test_writing_over_a_directory_or_under_a_file_is_rejected(
    repo: LocalArtifactRepository,
) -> None:
    repo.write_bytes("d/x.txt", b"x")
    with pytest.raises(InvalidParameter, match="it is a directory"):
        repo.write_bytes("d", b"y")
    with pytest.raises(InvalidParameter, match="a file stands where a directory is needed"):
        repo.write_bytes("d/x.txt/y.txt", b"y")


def test_streamed_write_and_read_back(any_repo: ArtifactRepository) -> None:
    # Over PART_BYTES: an S3 multipart upload of three parts (the last one short).
    chunk = bytes(range(256)) * 4096  # 1 MiB
    writer = any_repo.open_writer("big/blob.bin")
    total = 2 * PART_BYTES + 12345
    sent = 0
    while sent < total:
        piece = chunk[: min(len(chunk), total - sent)]
        writer.write(piece)
        sent += len(piece)
    assert any_repo.list_artifacts("big") == []  # nothing visible before commit
    writer.commit()
    writer.abort()  # a no-op after commit
    assert any_repo.list_artifacts("big") == [FileInfo("big/blob.bin", False, total)]
    reader = any_repo.open_reader("big/blob.bin")
    try:
        got = 0
        while block := reader.read(1 << 20):
            assert block == chunk[: len(block)]
            got += len(block)
    finally:
        reader.close()
    assert got == total


def test_aborted_write_leaves_nothing(any_repo: ArtifactRepository) -> None:
    any_repo.write_bytes("keep.txt", b"old")
    writer = any_repo.open_writer("keep.txt")
    writer.write(b"x" * (PART_BYTES + 1))
    writer.abort()
    reader = any_repo.open_reader("keep.txt")
    try:
        assert reader.read() == b"old"
    finally:
        reader.close()
    assert [f.path for f in any_repo.list_artifacts()] == ["keep.txt"]


def test_reading_a_missing_file_raises_not_found(any_repo: ArtifactRepository) -> None:
    any_repo.write_bytes("d/x.txt", b"x")
    with pytest.raises(ArtifactNotFound, match=r"No artifact file at 'nope\.txt'"):
        any_repo.open_reader("nope.txt")
    with pytest.raises(ArtifactNotFound, match="it is a directory"):
        any_repo.open_reader("d")


def test_s3_uri_must_name_a_bucket() -> None:
    with pytest.raises(InvalidParameter, match="s3://bucket/prefix"):
        S3ArtifactRepository("s3:///no-bucket")
    with pytest.raises(InvalidParameter, match=r"'\.\.' segment"):
        S3ArtifactRepository("s3://bucket/a/../b")


# path traversal


_OPERATIONS: dict[str, Callable[[ArtifactRepository, str, Path], object]] = {
    "write_bytes": lambda r, p, _t: r.write_bytes(p, b"x"),
    "log_artifact": lambda r, p, t: r.log_artifact(t / "in.txt", p),
    "log_artifacts": lambda r, p, t: r.log_artifacts(t / "indir", p),
    "list_artifacts": lambda r, p, _t: r.list_artifacts(p),
    "download_artifacts": lambda r, p, t: r.download_artifacts(p, t / "dl"),
    "delete_artifacts": lambda r, p, _t: r.delete_artifacts(p),
    "open_reader": lambda r, p, _t: r.open_reader(p),
    "open_writer": lambda r, p, _t: r.open_writer(p),
}


@pytest.mark.parametrize("operation", sorted(_OPERATIONS))
@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../b", "C:\\x", "a\0b"])
def test_traversal_is_rejected_by_every_operation(
    any_repo: ArtifactRepository, tmp_path: Path, operation: str, path: str
) -> None:
    (tmp_path / "in.txt").write_bytes(b"x")
    (tmp_path / "indir").mkdir()
    (tmp_path / "indir" / "f.txt").write_bytes(b"x")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(InvalidParameter, match="Artifact path"):
        _OPERATIONS[operation](any_repo, path, tmp_path)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.fixture
def escape(repo: LocalArtifactRepository, tmp_path: Path) -> Path:
    """A directory outside the root, with a link to it planted inside the root."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    repo.write_bytes("ok.txt", b"ok")
    (repo.root / "link").symlink_to(outside, target_is_directory=True)
    return outside


def test_symlink_escape_is_rejected_for_writes(
    repo: LocalArtifactRepository, escape: Path, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameter, match="resolves outside the artifact root"):
        repo.write_bytes("link/new.txt", b"x")
    (tmp_path / "in.txt").write_bytes(b"x")
    with pytest.raises(InvalidParameter, match="resolves outside the artifact root"):
        repo.log_artifact(tmp_path / "in.txt", "link")
    assert sorted(p.name for p in escape.iterdir()) == ["secret.txt"]


def test_symlink_escape_is_rejected_for_reads(
    repo: LocalArtifactRepository, escape: Path, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameter, match="resolves outside the artifact root"):
        repo.download_artifacts("link/secret.txt", tmp_path / "dl")
    with pytest.raises(InvalidParameter, match="resolves outside the artifact root"):
        repo.list_artifacts("link")
    assert [f.path for f in repo.list_artifacts()] == ["ok.txt"]


def test_file_symlink_escape_is_rejected_when_downloading_a_directory(
    repo: LocalArtifactRepository, escape: Path, tmp_path: Path
) -> None:
    repo.write_bytes("d/fine.txt", b"fine")
    (repo.root / "d" / "leak.txt").symlink_to(escape / "secret.txt")
    with pytest.raises(InvalidParameter, match="symbolic link leading outside"):
        repo.download_artifacts("d", tmp_path / "dl")
    assert not (tmp_path / "dl" / "d" / "leak.txt").exists()


def test_deleting_an_escaping_link_removes_only_the_link(
    repo: LocalArtifactRepository, escape: Path
) -> None:
    repo.delete_artifacts("link")
    assert not (repo.root / "link").exists()
    assert (escape / "secret.txt").read_bytes() == b"secret"
    repo.delete_artifacts()
    assert (escape / "secret.txt").read_bytes() == b"secret"


def test_links_that_stay_inside_the_root_work(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("real/a.txt", b"a")
    (repo.root / "alias").symlink_to(repo.root / "real", target_is_directory=True)
    assert repo.list_artifacts("alias") == [FileInfo("alias/a.txt", False, 1)]
    repo.write_bytes("alias/b.txt", b"b")
    assert (repo.root / "real" / "b.txt").read_bytes() == b"b"


def test_root_reached_through_a_link_works(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    repo = LocalArtifactRepository(tmp_path / "linked")
    repo.write_bytes("a/b.txt", b"b")
    assert repo.list_artifacts("a") == [FileInfo("a/b.txt", False, 1)]
    repo.delete_artifacts()
    assert (tmp_path / "linked").is_symlink()
    assert list((tmp_path / "real").iterdir()) == []
