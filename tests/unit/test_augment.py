"""The papers' image recipe (raysearch.data.augment): crop, flip, normalisation, cutout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from raysearch.data import load_dataset, to_float
from raysearch.data.augment import (
    CHANNEL_STATS,
    Augmentation,
    augmentation,
    cutout,
    random_crop,
    random_flip,
)


def images(b: int = 6, c: int = 3, h: int = 8, w: int = 8) -> torch.Tensor:
    return torch.rand((b, c, h, w), generator=torch.Generator().manual_seed(0)) + 0.1


def test_crop_is_a_window_of_the_zero_padded_image() -> None:
    x = images()
    out = random_crop(x, 4, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    offsets = set()
    for b in range(len(x)):
        windows = [
            (dy, dx)
            for dy in range(9)
            for dx in range(9)
            if torch.equal(out[b], padded[b, :, dy : dy + 8, dx : dx + 8])
        ]
        assert windows, f"image {b} is no window of its padded image"
        offsets.add(windows[0])
    assert len(offsets) > 1  # the offsets are drawn per image


def test_flip_mirrors_some_images_and_twice_is_identity() -> None:
    x = images(32)
    once = random_flip(x, torch.Generator().manual_seed(3))
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(once, x, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(once, x, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 0 < sum(mirrored) < 32
    twice = random_flip(once, torch.Generator().manual_seed(3))  # the same draws
    assert torch.equal(twice, x)


def test_cutout_zeroes_one_clipped_square_per_image() -> None:
    """The official utils.Cutout(16) on a batch: one hole per image, the same on every channel,
    a square of side 16 clipped at the border (8..16 rows and columns), seeded."""
    x = torch.ones(50, 3, 32, 32)
    out = cutout(x, 16, torch.Generator().manual_seed(0))
    assert torch.equal(x, torch.ones(50, 3, 32, 32))  # input untouched
    for image in out:
        zero = image[0] == 0
        assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
        rows, cols = int(zero.any(1).sum()), int(zero.any(0).sum())
        assert 8 <= rows <= 16 and 8 <= cols <= 16 and int(zero.sum()) == rows * cols
    assert any(int((image == 0).sum()) == 3 * 16 * 16 for image in out)  # unclipped holes occur
    assert torch.equal(cutout(x, 16, torch.Generator().manual_seed(0)), out)
    with pytest.raises(ValueError, match="cutout length must be >= 1"):
        cutout(x, 0)


def test_normalised_channels_have_zero_mean_and_unit_std() -> None:
    """Fashion-MNIST's statistics normalise the embedded subset to mean 0, std 1 (to 0.03)."""
    data = load_dataset("fashion-mnist-mini")
    x = augmentation("fashion-mnist-mini").test(to_float(data.train.images))
    assert abs(float(x.mean())) < 0.03 and abs(float(x.std()) - 1) < 0.03
    c10 = augmentation("cifar10")
    assert c10.mean == (0.4914, 0.4822, 0.4465) and c10.std == (0.2470, 0.2435, 0.2616)
    batch = torch.rand(4, 3, 5, 5)
    expected = (batch - torch.tensor(c10.mean).view(1, 3, 1, 1)) / torch.tensor(c10.std).view(
        1, 3, 1, 1
    )
    assert torch.allclose(c10.test(batch), expected)


def test_recipe_is_deterministic_under_a_seed_and_differs_across_seeds() -> None:
    recipe = augmentation("cifar10", cutout_length=4)
    x = images(16)
    first = recipe.train(x, torch.Generator().manual_seed(7))
    again = recipe.train(x, torch.Generator().manual_seed(7))
    other = recipe.train(x, torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == x.shape


def test_standard_recipes_per_data_set_and_none() -> None:
    assert augmentation("cifar10") == Augmentation(
        crop_padding=4, flip=True, mean=CHANNEL_STATS["cifar10"][0], std=CHANNEL_STATS["cifar10"][1]
    )
    assert not augmentation("mnist").flip  # a mirrored digit is another glyph
    none = augmentation("cifar10", "none")
    x = images()
    assert torch.equal(none.train(x, torch.Generator().manual_seed(0)), x)
    with pytest.raises(ValueError, match="unknown augmentation 'autoaugment'.*standard, none"):
        augmentation("cifar10", "autoaugment")
