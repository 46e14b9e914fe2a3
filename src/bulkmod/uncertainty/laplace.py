"""A last-layer Laplace approximation: a Bayesian treatment of a trained network's output layer.

The network is trained as usual; only its last linear layer is made Bayesian. With a Gaussian likelihood that
layer is a Bayesian linear regression on the penultimate features phi, so the Laplace posterior is exact for
it: precision H = PhiᵀPhi / s² + lam I around the trained weights, and a crystal's predictive variance is
phiᵀ H⁻¹ phi + s². The prior precision lam is chosen by the Laplace evidence of the training data, and the noise
s² is the training residuals' mean square, so nothing is tuned on a test crystal. Unlike Monte-Carlo dropout, the
variance grows where phi points into directions the training crystals did not span, which is what an
out-of-distribution crystal does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAMBDA_GRID = np.logspace(-4, 4, 33)  # prior precisions tried; the evidence picks one


@dataclass
class LastLayerLaplace:
    """Posterior covariance of the last layer's weights (bias included as a constant feature) and the noise."""

    covariance: np.ndarray
    noise_var: float
    prior_precision: float

    @classmethod
    def fit(cls, phi: np.ndarray, residuals: np.ndarray, weights: np.ndarray) -> LastLayerLaplace:
        """Fit the posterior of the trained last layer from the training crystals' features and errors.

        ``phi`` (n, d) penultimate features of the training crystals, ``residuals`` their training errors in the
        network's output units, ``weights`` (d + 1) the trained last layer (bias last).
        """
        X = _with_bias(phi)
        noise = float(np.mean(residuals**2))
        gram = X.T @ X / noise
        eig = np.linalg.eigvalsh(gram)
        w2 = float(weights @ weights)
        # log evidence up to terms free of lam: d/2 log lam - lam/2 |w|² - 1/2 log det(gram + lam I)
        evidence = [0.5 * len(weights) * np.log(lam) - 0.5 * lam * w2 - 0.5 * np.sum(np.log(eig + lam))
                    for lam in LAMBDA_GRID]  # fmt: skip
        lam = float(LAMBDA_GRID[int(np.argmax(evidence))])
        covariance = np.linalg.inv(gram + lam * np.eye(len(gram)))
        return cls(covariance=(covariance + covariance.T) / 2, noise_var=noise, prior_precision=lam)

    def std(self, phi: np.ndarray) -> np.ndarray:
        """Predictive standard deviation in the network's output units: weight uncertainty plus noise."""
        X = _with_bias(phi)
        return np.sqrt(np.einsum("nd,de,ne->n", X, self.covariance, X) + self.noise_var)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"laplace_covariance": self.covariance,
                "laplace_scalars": np.array([self.noise_var, self.prior_precision])}  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> LastLayerLaplace:
        noise, lam = (float(v) for v in arrays["laplace_scalars"])
        return cls(covariance=np.asarray(arrays["laplace_covariance"], float), noise_var=noise, prior_precision=lam)


def _with_bias(phi: np.ndarray) -> np.ndarray:
    return np.hstack([np.asarray(phi, float), np.ones((len(phi), 1))])
