class TaskFamily:
    @staticmethod
    def get_tasks():
        return {"1": {"trees": 18, "apples_per_tree": 45, "bruised_fraction": [1, 9], "crate_size": 24}}

    @staticmethod
    def get_instructions(t):
        num, den = t["bruised_fraction"]
        return (f"An orchard has {t['trees']} trees with {t['apples_per_tree']} apples each. {num}/{den} of the "
                f"apples are bruised and thrown away. The rest are packed into crates of {t['crate_size']}. "
                "How many crates are completely filled? Answer with a single integer.")

    @staticmethod
    def score(t, submission):
        num, den = t["bruised_fraction"]
        total = t["trees"] * t["apples_per_tree"]
        good = total - total * num // den
        expected = good // t["crate_size"]
        try:
            return 1.0 if int(submission.strip().rstrip(".")) == expected else 0.0
        except ValueError:
            return 0.0
