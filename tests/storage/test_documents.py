"""Documents (b2b quote PDFs) in every store: kept byte for byte, found by id, replaced on a second save,
and still there after a restart of the embedded store."""

from __future__ import annotations

from pathlib import Path

from storage import Document, Store
from storage.embedded import EmbeddedStore
from tests.storage.test_store_contract import store

__all__ = ["store"]  # the contract suite's fixture: one run per backend

PDF = b"%PDF-1.3\n\x00\xff binary \x80 body\n%%EOF"


async def test_a_document_comes_back_byte_for_byte_by_its_id(store: Store) -> None:
    doc = Document(id="k3yQ9vX2bYpL7mN4wR8sD1fG", vendor_id="boutique-awa", filename="DEV-20260609-3F2A.pdf",
                   content_type="application/pdf", body=PDF, created_at=1_781_000_000.0)
    await store.save_document(doc)
    assert await store.get_document(doc.id) == doc
    assert await store.get_document("k3yQ9vX2bYpL7mN4wR8sD1fH") is None
    await store.save_document(doc.model_copy(update={"body": PDF + b"2"}))
    again = await store.get_document(doc.id)
    assert again is not None and again.body == PDF + b"2"


async def test_a_document_survives_a_restart_of_the_embedded_store(tmp_path: Path) -> None:
    first = EmbeddedStore(tmp_path)
    await first.start()
    await first.save_document(Document(id="d" * 24, vendor_id="v", filename="q.pdf",
                                       content_type="application/pdf", body=PDF))
    await first.close()
    second = EmbeddedStore(tmp_path)
    await second.start()
    try:
        doc = await second.get_document("d" * 24)
        assert doc is not None and doc.body == PDF
    finally:
        await second.close()
