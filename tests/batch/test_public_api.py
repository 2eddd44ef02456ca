import reelforge.batch


def test_all_is_sorted_and_complete() -> None:
    exported = list(reelforge.batch.__all__)

    def order(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)

    assert exported == sorted(exported, key=order)
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(reelforge.batch, name)


def test_batch_file_error_is_an_invalid_spec_error() -> None:
    assert issubclass(reelforge.batch.BatchFileError, reelforge.InvalidSpecError)
