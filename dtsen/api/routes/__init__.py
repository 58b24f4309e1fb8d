"""The API's endpoints, one router per part of the specification."""
