"""RateSpecificTimeEmbedding: one embedding per count, in count order."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmffn.models.layers import RateSpecificLayer, RateSpecificTimeEmbedding


@pytest.mark.parametrize('counts', [(4, 8, 16), (8, 16), (4, 16), (9, 10),
                                    (2, 4)])
def test_counts_keep_their_order(counts):
    # A plain dict would make ParameterDict sort the keys as strings.
    embedding = RateSpecificTimeEmbedding(torch.randn(1, 8, 6), counts)
    assert isinstance(embedding, RateSpecificLayer)
    assert embedding.frame_counts == counts
    assert list(embedding.state_dict()) == [f'branches.{c}' for c in counts]
    assert embedding.active == counts[-1]
    for count in counts:
        embedding.active = count
        assert embedding.branches[str(count)].shape == (1, count, 6)


def test_copies_start_resampled_and_serve_other_lengths():
    stock = torch.randn(1, 8, 6)
    embedding = RateSpecificTimeEmbedding(stock, (4, 8, 16), active=8)
    assert torch.equal(embedding.branches['8'], stock)
    expected = F.interpolate(
        stock.transpose(1, 2), size=4, mode='linear',
        align_corners=True).transpose(1, 2)
    torch.testing.assert_close(embedding.branches['4'], expected)
    x = torch.randn(3, 5, 6)
    embedding.active = 4
    torch.testing.assert_close(
        embedding(x), x + F.interpolate(
            expected.transpose(1, 2),
            size=5,
            mode='linear',
            align_corners=True).transpose(1, 2))
    static = embedding.to_static(16)
    assert isinstance(static, nn.Parameter)
    assert torch.equal(static, embedding.branches['16'])
    with pytest.raises(KeyError, match='no variant for 5'):
        embedding.active = 5
